"""The contract every registered destination must pass (destinations/base.py)."""
from __future__ import annotations

import copy
import json

import pytest

from destinations import registry
from destinations.base import EVENT_TYPES, BaseSettings, Destination, OutcomeStatus, Prepared, secret_values
from router.config import RateLimit
from router.errors import RejectedEvent, SkippedEvent

UNREACHABLE = "http://127.0.0.1:9"  # nothing listens on the discard port

#: the smallest valid settings of each plugin, pointed at a closed port
SETTINGS = {
    "webhook": {"url": UNREACHABLE + "/hook", "shared_secret": "contract-secret"},
    "extole": {"api_key": "contract-secret", "base_url": UNREACHABLE},
    "custobar": {"token": "contract-secret", "base_url": UNREACHABLE},
    "yespo": {"api_key": "contract-secret", "base_url": UNREACHABLE},
    "stickystreet": {"user_id": "u", "user_api_key": "contract-secret", "account_id": "acct",
                     "campaigns_to_include": "123", "base_url": UNREACHABLE},
    "http": {"base_url": UNREACHABLE, "auth": "bearer", "token": "contract-secret", "requests": [
        {"type": "identify", "method": "PUT", "url": "/contacts/{{userId}}", "body": {"email": "traits.email"}},
        {"type": "track", "url": "/events", "batch": {"max": 10, "wrap": "events"},
         "body": {"name": "event", "user": "userId", "revenue": {"from": "properties.revenue", "type": "cents"}}},
        {"type": "delete", "method": "DELETE", "url": "/contacts/{{userId}}", "statuses": {"done": ["2xx", 404]}},
    ]},
}

CTX = {"ip": "127.0.0.1", "traits": {"email": "ada@example.com"}}
SAMPLES = {
    "identify": {"type": "identify", "userId": "user-1", "traits": {"email": "ada@example.com", "firstName": "Ada",
                                                                     "lastName": "Lovelace", "phone": "+358401234567"}},
    "track": {"type": "track", "userId": "user-1", "event": "Order Completed", "context": CTX,
              "properties": {"order_id": "o-1", "revenue": 19.99, "currency": "EUR",
                             "products": [{"product_id": "p1", "price": 19.99, "quantity": 1}]}},
    "page": {"type": "page", "userId": "user-1", "name": "Home", "properties": {"path": "/"}},
    "screen": {"type": "screen", "userId": "user-1", "name": "Home", "properties": {}},
    "group": {"type": "group", "userId": "user-1", "groupId": "g-1", "traits": {"name": "Acme"}},
    "alias": {"type": "alias", "userId": "user-1", "previousId": "anon-1"},
    "delete": {"type": "delete", "userId": "user-1", "context": None, "integrations": []},
}
for i, sample in enumerate(SAMPLES.values()):
    sample.update(messageId=f"contract-{i}", timestamp="2026-11-23T10:00:00.000Z", receivedAt="2026-11-23T10:00:01.000Z")

PLUGINS = registry.available()


def build(slug: str) -> Destination:
    plugin = registry.load(slug)
    return plugin(plugin.settings_schema().load(SETTINGS[slug]))


def test_every_builtin_destination_is_installed():
    assert PLUGINS == sorted(registry.BUILTIN)


@pytest.mark.parametrize("slug", PLUGINS)
def test_a_destination_declares_itself_as_data(slug):
    plugin = registry.load(slug)
    assert plugin.slug == slug
    assert plugin.display_name
    assert plugin.handles and plugin.handles <= EVENT_TYPES
    assert 1 <= plugin.default_batch_size <= plugin.max_batch_size
    assert issubclass(plugin.settings_schema, BaseSettings)
    if plugin.default_rate_limit:
        RateLimit.parse(plugin.default_rate_limit)


@pytest.mark.parametrize("slug", PLUGINS)
def test_a_destination_marks_its_secrets(slug):
    plugin = registry.load(slug)
    settings = plugin.settings_schema().load(SETTINGS[slug])
    assert "contract-secret" in secret_values(plugin.settings_schema(), settings)


@pytest.mark.parametrize("slug,kind", [(s, k) for s in PLUGINS for k in sorted(registry.load(s).handles)])
def test_mapping_is_pure_and_keeps_secrets_out(slug, kind):
    dest = build(slug)
    event = copy.deepcopy(SAMPLES[kind])
    try:
        first = dest.map(event)
    except (RejectedEvent, SkippedEvent) as exc:
        assert exc.reason  # a refusal always says why
        return
    assert event == SAMPLES[kind], "map() must not change the event"
    assert dest.map(copy.deepcopy(SAMPLES[kind])) == first, "map() must give the same payload twice"
    assert "contract-secret" not in json.dumps(first, default=str)


@pytest.mark.parametrize("slug", PLUGINS)
def test_an_unreachable_vendor_means_retry_for_every_event(slug):
    dest = build(slug)
    prepared = []
    for kind in sorted(dest.handles):
        try:
            prepared.append(Prepared(SAMPLES[kind], dest.map(copy.deepcopy(SAMPLES[kind]))))
        except (RejectedEvent, SkippedEvent):
            continue
    assert prepared, f"{slug} mapped none of the sample events"
    outcomes = dest.send(prepared)
    assert len(outcomes) == len(prepared)
    assert {o.status for o in outcomes} == {OutcomeStatus.RETRY}
    assert all("contract-secret" not in (o.reason + (o.response or "")) for o in outcomes)
