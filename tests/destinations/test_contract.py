"""Every built-in destination passes the kit's contract suite (destinations/kit/testing.py),
the same one a third-party plugin runs in its own tests."""
from __future__ import annotations

import pytest
import requests
from marshmallow import fields

from destinations import registry
from destinations.kit import (BaseSettings, Destination, Outcome, RejectedEvent, RetryableError, SkippedEvent,
                              StrictSchema)
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


class _Settings(BaseSettings):
    api_key = fields.String(required=True, metadata={"secret": True, "description": "API key"})
    api_secret = fields.String(load_default=None, metadata={"description": "API secret, signs each request"})


class _Plugin(Destination):
    """A plugin that maps every event to itself and cannot reach its vendor."""

    slug = "contract_probe"
    display_name = "Contract Probe"
    handles = frozenset({"identify", "delete"})
    settings_schema = _Settings

    def map(self, event):
        return {"type": event["type"], "user": event["userId"]}

    def send_one(self, item):
        raise RetryableError("could not connect to Contract Probe")


def _suite(plugin: type, settings: dict) -> ContractTests:
    return type("TestProbe", (ContractTests,), {"plugin": plugin, "settings": settings})()


def test_the_contract_suite_fails_a_plugin_that_leaves_one_of_its_secrets_unmarked():
    suite = _suite(_Plugin, {"api_key": SECRET, "api_secret": SECRET, "base_url": UNREACHABLE})
    with pytest.raises(AssertionError) as failed:
        suite.test_the_secrets_are_marked()
    assert "api_secret" in str(failed.value)


class _DeletesNothing(_Plugin):
    """Lists delete (so `eventrouter destinations` says DELETE yes) but skips every one."""

    def map(self, event):
        if event["type"] == "delete":
            raise SkippedEvent("deletes are not supported yet")
        return super().map(event)


def test_the_contract_suite_fails_a_plugin_that_lists_delete_but_refuses_the_sample_delete():
    suite = _suite(_DeletesNothing, {"api_key": SECRET, "api_secret": SECRET, "base_url": UNREACHABLE})
    with pytest.raises(AssertionError) as failed:
        suite.test_mapping_is_pure_repeatable_and_keeps_secrets_out()
    assert "deletes are not supported yet" in str(failed.value)


class _ClientJudgesNothing(_Plugin):
    """Its own HTTP: a vendor outage becomes a dead letter, and any answer at all counts as delivered."""

    def send_one(self, item):
        try:
            answer = requests.post(self.settings["base_url"] + "/events", json=item.payload, timeout=5)
        except requests.RequestException as exc:
            raise RetryableError(f"could not connect: {type(exc).__name__}")
        if answer.status_code >= 500:
            raise RejectedEvent(f"Contract Probe answered {answer.status_code}")
        return Outcome.delivered(answer.status_code)


def test_the_contract_suite_fails_a_plugin_that_dead_letters_events_when_its_vendor_is_down():
    suite = _suite(_ClientJudgesNothing, {"api_key": SECRET, "base_url": UNREACHABLE})
    suite.test_an_unreachable_vendor_means_retry_for_every_event()  # a closed port alone does not tell
    with pytest.raises(AssertionError) as failed:
        suite.test_a_vendor_answering_503_means_retry_for_every_event()
    assert "Contract Probe answered 503" in str(failed.value)


def test_the_contract_suite_fails_a_plugin_that_counts_a_refusal_as_delivered():
    suite = _suite(_ClientJudgesNothing, {"api_key": SECRET, "base_url": UNREACHABLE})
    with pytest.raises(AssertionError) as failed:
        suite.test_a_vendor_refusing_with_400_delivers_nothing()
    assert "delivered" in str(failed.value)


class _Login(StrictSchema):
    user = fields.String(metadata={"description": "login"})
    password = fields.String(metadata={"secret": True, "description": "password"})


class _NestedSettings(BaseSettings):
    auth = fields.Nested(_Login, required=True, metadata={"description": "basic auth"})


class _NestedSecret(_Plugin):
    settings_schema = _NestedSettings


def test_the_contract_suite_takes_a_secret_marked_inside_a_nested_setting():
    suite = _suite(_NestedSecret, {"auth": {"user": "ada", "password": SECRET}, "base_url": UNREACHABLE})
    suite.test_the_secrets_are_marked()


class _ForgotReturn(_Plugin):
    def map(self, event):
        {"type": event["type"], "user": event["userId"]}  # noqa: B018 — the payload is built, never returned


def test_the_contract_suite_fails_a_mapper_that_returns_nothing_saying_so():
    suite = _suite(_ForgotReturn, {"api_key": SECRET, "base_url": UNREACHABLE})
    with pytest.raises(AssertionError) as failed:
        suite.test_mapping_is_pure_repeatable_and_keeps_secrets_out()
    assert "delete: map() returned None" in str(failed.value)


def test_the_contract_suite_refuses_settings_that_do_not_point_the_vendor_at_unreachable():
    suite = _suite(_ClientJudgesNothing, {"api_key": SECRET})
    for check in (suite.test_an_unreachable_vendor_means_retry_for_every_event,
                  suite.test_a_vendor_answering_503_means_retry_for_every_event):
        with pytest.raises(AssertionError) as failed:
            check()
        assert "ContractTests.UNREACHABLE" in str(failed.value)
