"""Every built-in destination passes the kit's contract suite (destinations/kit/testing.py),
the same one a third-party plugin runs in its own tests."""
from __future__ import annotations

from destinations import registry
from destinations.kit.testing import SECRET, UNREACHABLE, ContractTests

#: the smallest valid settings of each built-in plugin, pointed at a closed port
SETTINGS = {
    "webhook": {"url": UNREACHABLE + "/hook", "shared_secret": SECRET},
    "extole": {"api_key": SECRET, "base_url": UNREACHABLE},
    "custobar": {"token": SECRET, "base_url": UNREACHABLE},
    "yespo": {"api_key": SECRET, "base_url": UNREACHABLE},
    "stickystreet": {"user_id": "u", "user_api_key": SECRET, "account_id": "acct",
                     "campaigns_to_include": "123", "base_url": UNREACHABLE},
    "http": {"base_url": UNREACHABLE, "auth": "bearer", "token": "contract-secret", "requests": [
        {"type": "identify", "method": "PUT", "url": "/contacts/{{userId}}", "body": {"email": "traits.email"}},
        {"type": "track", "url": "/events", "batch": {"max": 10, "wrap": "events"},
         "body": {"name": "event", "user": "userId", "revenue": {"from": "properties.revenue", "type": "cents"}}},
        {"type": "delete", "method": "DELETE", "url": "/contacts/{{userId}}", "statuses": {"done": ["2xx", 404]}},
    ]},
}


def test_every_builtin_destination_is_installed_and_in_the_suite():
    assert sorted(SETTINGS) == sorted(registry.BUILTIN)
    assert set(registry.BUILTIN) <= set(registry.available())


class TestWebhookContract(ContractTests):
    plugin = registry.load("webhook")
    settings = SETTINGS["webhook"]


class TestExtoleContract(ContractTests):
    plugin = registry.load("extole")
    settings = SETTINGS["extole"]


class TestCustobarContract(ContractTests):
    plugin = registry.load("custobar")
    settings = SETTINGS["custobar"]


class TestYespoContract(ContractTests):
    plugin = registry.load("yespo")
    settings = SETTINGS["yespo"]


class TestStickyStreetContract(ContractTests):
    plugin = registry.load("stickystreet")
    settings = SETTINGS["stickystreet"]


class TestHttpContract(ContractTests):
    plugin = registry.load("http")
    settings = SETTINGS["http"]
