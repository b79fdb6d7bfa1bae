"""The contract suite every destination plugin passes, built-in or third-party.

In a plugin's own tests, a few lines run it::

    from destinations.kit.testing import ContractTests

    class TestContract(ContractTests):
        plugin = MyDestination
        # the smallest valid settings, every secret set to SECRET, the vendor at UNREACHABLE
        settings = {"api_key": ContractTests.SECRET, "base_url": ContractTests.UNREACHABLE}

pytest collects ``TestContract`` (the base class is not collected: its name does not start
with ``Test``). The suite needs no network and no Redis: the vendor is a closed port, or a fake one
on 127.0.0.1 (put at the settings' UNREACHABLE) answering every request with an outage or a refusal.
"""
from __future__ import annotations

import copy
import json
from typing import Any, ClassVar

from destinations.base import (EVENT_TYPES, BaseSettings, Destination, Outcome, OutcomeStatus, Prepared, parse_rate,
                               secret_values)
from destinations.errors import RejectedEvent, SkippedEvent
from destinations.kit.fakes import FakeServer, Reply

#: nothing listens on the discard port: every request fails to connect
UNREACHABLE = "http://127.0.0.1:9"
#: the value to give every secret setting; the suite checks it never leaks
SECRET = "contract-secret"

_CTX = {"ip": "127.0.0.1", "traits": {"email": "ada@example.com"}}
#: one Segment event of each type, as ingest hands them to delivery
SAMPLES: dict[str, dict[str, Any]] = {
    "identify": {"type": "identify", "userId": "user-1", "traits": {"email": "ada@example.com", "firstName": "Ada",
                                                                     "lastName": "Lovelace", "phone": "+358401234567"}},
    "track": {"type": "track", "userId": "user-1", "event": "Order Completed", "context": _CTX,
              "properties": {"order_id": "o-1", "revenue": 19.99, "currency": "EUR",
                             "products": [{"product_id": "p1", "price": 19.99, "quantity": 1}]}},
    "page": {"type": "page", "userId": "user-1", "name": "Home", "properties": {"path": "/"}},
    "screen": {"type": "screen", "userId": "user-1", "name": "Home", "properties": {}},
    "group": {"type": "group", "userId": "user-1", "groupId": "g-1", "traits": {"name": "Acme"}},
    "alias": {"type": "alias", "userId": "user-1", "previousId": "anon-1"},
    "delete": {"type": "delete", "userId": "user-1", "context": None, "integrations": []},
}
for _i, _sample in enumerate(SAMPLES.values()):
    _sample.update(messageId=f"contract-{_i}", timestamp="2026-11-23T10:00:00.000Z", receivedAt="2026-11-23T10:00:01.000Z")


class ContractTests:
    """Subclass as ``Test...`` and set ``plugin`` and ``settings``; ``samples`` may add or replace events."""

    SECRET: ClassVar[str] = SECRET
    UNREACHABLE: ClassVar[str] = UNREACHABLE
    plugin: ClassVar[type[Destination]]
    settings: ClassVar[dict[str, Any]]
    samples: ClassVar[dict[str, dict[str, Any]]] = {}

    def sample(self, kind: str) -> dict[str, Any]:
        return copy.deepcopy({**SAMPLES, **self.samples}[kind])

    def build(self) -> Destination:
        return self.plugin(self.plugin.settings_schema().load(copy.deepcopy(self.settings)))

    def point_at_vendor(self) -> None:
        # without it the suite's requests would go to the real vendor, with the suite's events
        assert UNREACHABLE in json.dumps(self.settings, default=str), (
            "put ContractTests.UNREACHABLE where the settings say where the vendor is (base_url)")

    def test_the_plugin_declares_itself_as_data(self) -> None:
        plugin = self.plugin
        assert isinstance(plugin.slug, str) and plugin.slug, "slug: the `type:` of the config"
        assert plugin.display_name, "display_name: the name in the integrations object"
        assert plugin.handles and plugin.handles <= EVENT_TYPES, f"handles: a subset of {sorted(EVENT_TYPES)}"
        assert 1 <= plugin.default_batch_size <= plugin.max_batch_size
        assert issubclass(plugin.settings_schema, BaseSettings)
        for rate in [plugin.default_rate_limit, *plugin.rate_limits.values()]:
            if rate:
                parse_rate(rate)

    def test_every_setting_has_a_description(self) -> None:
        schema = self.plugin.settings_schema()
        missing = sorted(name for name, f in schema.fields.items() if not f.metadata.get("description"))
        assert missing == [], 'add metadata={"description": ...}: `eventrouter destinations show` prints it'

    def test_the_secrets_are_marked(self) -> None:
        settings = self.plugin.settings_schema().load(copy.deepcopy(self.settings))
        schema = self.plugin.settings_schema()
        secrets = secret_values(schema, settings)
        assert any(SECRET in value for value in secrets), (
            "put SECRET in every secret setting (a secret URL may carry it in its path) "
            "and mark the field metadata={'secret': True}")
        # one marked secret must not vouch for another left unmarked: that one would be logged and stored
        unmarked = []
        for name in sorted(schema.fields):
            text = json.dumps(settings.get(name), default=str)
            for value in secret_values(schema, {name: settings.get(name)}):
                text = text.replace(value, "")
            if SECRET in text:
                unmarked.append(name)
        assert unmarked == [], f"settings holding SECRET but not marked metadata={{'secret': True}}: {unmarked}"

    def test_mapping_is_pure_repeatable_and_keeps_secrets_out(self) -> None:
        dest = self.build()
        for kind in sorted(self.plugin.handles):
            event = self.sample(kind)
            try:
                first = dest.map(event)
            except (RejectedEvent, SkippedEvent) as exc:
                assert exc.reason, f"{kind}: a refusal always says why"
                # listing delete tells operators GDPR deletes reach the vendor (`DELETE yes`)
                assert kind != "delete", (
                    f"handles lists delete but the sample delete was refused ({exc.reason}): "
                    "map it to the vendor's delete call, or leave delete out of handles")
                continue
            assert first is not None, f"{kind}: map() returned None: return the payload, or raise SkippedEvent/RejectedEvent"
            assert event == self.sample(kind), f"{kind}: map() must not change the event"
            assert dest.map(self.sample(kind)) == first, f"{kind}: map() must give the same payload twice"
            assert SECRET not in json.dumps(first, default=str), f"{kind}: a secret is in the payload"

    def prepared(self, dest: Destination) -> list[Prepared]:
        """Every handled sample the plugin maps, mapped."""
        prepared = []
        for kind in sorted(self.plugin.handles):
            try:
                prepared.append(Prepared(self.sample(kind), dest.map(self.sample(kind))))
            except (RejectedEvent, SkippedEvent):
                continue
        assert prepared, f"{self.plugin.slug} mapped none of the sample events"
        return prepared

    def answered(self, reply: Reply) -> list[Outcome]:
        """The outcomes of sending every sample to a fake vendor on 127.0.0.1 (where the settings say
        UNREACHABLE) that gives every request ``reply``."""
        self.point_at_vendor()
        with FakeServer(lambda req: reply) as vendor:
            settings = json.loads(json.dumps(self.settings).replace(UNREACHABLE, vendor.base_url))
            dest = self.plugin(self.plugin.settings_schema().load(settings))
            prepared = self.prepared(dest)
            outcomes = dest.send(prepared)
        assert len(outcomes) == len(prepared), "send() gives one outcome per event, in order"
        return outcomes

    def test_an_unreachable_vendor_means_retry_for_every_event(self) -> None:
        self.point_at_vendor()
        dest = self.build()
        prepared = self.prepared(dest)
        outcomes = dest.send(prepared)
        assert len(outcomes) == len(prepared), "send() gives one outcome per event, in order"
        assert {o.status for o in outcomes} == {OutcomeStatus.RETRY}
        assert all(SECRET not in (o.reason + (o.response or "")) for o in outcomes)

    def test_a_vendor_answering_503_means_retry_for_every_event(self) -> None:
        # an outage is not the event's fault: a dead letter here would lose events the vendor would take later
        outcomes = self.answered(Reply(503, "Service Unavailable"))
        assert [o.status for o in outcomes] == [OutcomeStatus.RETRY] * len(outcomes), (
            f"a 503 must be retried, not {[(o.status.value, o.reason) for o in outcomes]} "
            "(HttpClient raises RetryableError for 408/429/5xx)")

    def test_a_vendor_refusing_with_400_delivers_nothing(self) -> None:
        outcomes = self.answered(Reply(400, {"error": "invalid request"}))
        delivered = [o.reason or o.http_status for o in outcomes if o.status is OutcomeStatus.DELIVERED]
        assert delivered == [], f"a 400 answer counted as delivered: {delivered}"
