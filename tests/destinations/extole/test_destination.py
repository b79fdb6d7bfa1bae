"""The Extole destination as the delivery engine drives it: map, then send a batch, one outcome per event."""
from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from destinations import registry
from destinations.base import OutcomeStatus, Prepared, secret_values
from destinations.extole import ExtoleDestination
from router.config import parse_config
from router.errors import ConfigError, RejectedEvent, Throttled
from router.routing import Router
from tests.destinations.extole.fake_extole import API_KEY, FakeExtole, Reply, error

TS = "2026-11-23T10:00:00.000Z"


@pytest.fixture
def extole() -> Iterator[FakeExtole]:
    with FakeExtole() as server:
        yield server


def destination(server: FakeExtole, throttle: Any = None, **over: Any) -> ExtoleDestination:
    settings = ExtoleDestination.settings_schema().load({"api_key": API_KEY, "base_url": server.base_url, **over})
    return ExtoleDestination(settings, throttle=throttle)


def conversion(order: str, **props: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "conversion",
        "userId": f"user-{order}",
        "messageId": f"m-{order}",
        "timestamp": TS,
        "properties": {"order_id": order, "total": 10, **props},
    }


def deliver(dest: ExtoleDestination, events: list[dict[str, Any]]) -> list[Any]:
    """What the engine does: map each event, send the mapped ones, keep the order."""
    outcomes: list[Any] = []
    prepared: list[tuple[int, Prepared]] = []
    for i, event in enumerate(events):
        try:
            prepared.append((i, Prepared(event, dest.map(event))))
            outcomes.append(None)
        except RejectedEvent as exc:
            outcomes.append(exc)
    for (i, _), outcome in zip(prepared, dest.send([p for _, p in prepared])):
        outcomes[i] = outcome
    return outcomes


def test_the_registry_finds_extole_platform_with_its_aliases():
    cls = registry.load("extole")
    assert cls is ExtoleDestination
    assert cls.display_name == "Extole Platform"
    assert {"Extole", "extole-destination-v2"} <= set(cls.aliases)
    assert cls.handles == {"identify", "track", "delete"} and cls.supports_delete()
    assert cls.default_rate_limit == "100/minute" and cls.max_batch_size == 100


def test_the_api_key_is_a_secret_and_never_in_a_mapped_payload(extole):
    dest = destination(extole)
    assert secret_values(dest.settings_schema(), dest.settings) == [API_KEY]
    payload = dest.map(conversion("A1", note=API_KEY[:4]))
    assert API_KEY not in json.dumps(payload)


def test_a_batch_is_one_request_per_event_and_one_refusal_does_not_stop_the_rest(extole):
    extole.script += [Reply(200, {}), error(400, "event_blocked", "Blocked by program rules")]
    outcomes = deliver(destination(extole), [conversion("A1"), conversion("A2"), conversion("A3")])
    assert [o.status for o in outcomes] == [OutcomeStatus.DELIVERED, OutcomeStatus.REJECTED, OutcomeStatus.DELIVERED]
    assert outcomes[1].reason == "Extole refused the call (400): event_blocked: Blocked by program rules"
    assert [r.json()["data"]["partner_conversion_id"] for r in extole.requests] == ["A1", "A2", "A3"]


def test_when_extole_is_down_the_rest_of_the_batch_waits_unsent(extole):
    extole.script += [Reply(200, {}), error(503, "unavailable", "busy")]
    outcomes = deliver(destination(extole), [conversion("A1"), conversion("A2"), conversion("A3")])
    assert [o.status for o in outcomes] == [OutcomeStatus.DELIVERED, OutcomeStatus.RETRY, OutcomeStatus.RETRY]
    assert outcomes[1].http_status == 503 and outcomes[2].counts_as_attempt is False
    assert len(extole.requests) == 2


def test_a_mapping_rejection_sends_nothing_for_that_event_only(extole):
    too_long = {**conversion("A2"), "properties": {"order_id": "o" * 39}}
    outcomes = deliver(destination(extole), [conversion("A1"), too_long, conversion("A3")])
    assert isinstance(outcomes[1], RejectedEvent) and "partner_conversion_id is 39 characters" in outcomes[1].reason
    assert [o.status for o in (outcomes[0], outcomes[2])] == [OutcomeStatus.DELIVERED] * 2
    assert len(extole.requests) == 2


def test_when_our_rate_limit_is_spent_the_rest_of_the_batch_waits_without_using_an_attempt(extole):
    allowed = iter([True, True])

    def throttle() -> None:
        if not next(allowed, False):
            raise Throttled("Extole rate limit reached", retry_after=0.6)

    outcomes = deliver(destination(extole, throttle), [conversion(str(i)) for i in range(5)])
    assert [o.status for o in outcomes] == [OutcomeStatus.DELIVERED] * 2 + [OutcomeStatus.RETRY] * 3
    assert all(not o.counts_as_attempt and o.retry_after == 0.6 for o in outcomes[2:])
    assert len(extole.requests) == 2


def test_identify_delete_and_track_reach_their_extole_endpoints(extole):
    events = [
        {"type": "identify", "userId": "u-1", "messageId": "m1", "timestamp": TS, "traits": {"email": "a@example.com", "vip": False}},
        {"type": "delete", "userId": "u-1", "messageId": "m2", "timestamp": TS, "context": None, "integrations": None},
        conversion("A1"),
    ]
    outcomes = deliver(destination(extole, track_endpoint="/v6/events"), events)
    assert [o.status for o in outcomes] == [OutcomeStatus.DELIVERED] * 3
    assert [r.path for r in extole.requests] == ["/v5/events", "/v4/erasures", "/v6/events"]
    assert extole.requests[0].json()["data"]["vip"] is False


def test_flat_identify_is_accepted_by_the_identify_endpoint(extole):
    event = {"type": "identify", "userId": "u-1", "messageId": "m1", "timestamp": TS, "traits": {"firstName": "Ann"}}
    [outcome] = deliver(destination(extole, identify_mode="flat"), [event])
    assert outcome.status is OutcomeStatus.DELIVERED
    assert extole.requests[0].path == "/v5/events/identify"
    assert extole.requests[0].json() == {"partner_user_id": "u-1", "traits": {"first_name": "Ann"}}


def test_repeating_a_delete_is_harmless_where_extole_answers_404_for_someone_erased(extole):
    delete = {"type": "delete", "userId": "u-1", "messageId": "m", "timestamp": TS}
    extole.script += [Reply(200, {"id": "er-1", "status": "PENDING"}), error(404, "person_not_found", "gone")]
    outcomes = deliver(destination(extole, erasure_404="done"), [delete, delete])
    assert [o.status for o in outcomes] == [OutcomeStatus.DELIVERED] * 2


def config(**dest: Any) -> Any:
    return parse_config({"destinations": [{"name": "extole-main", "type": "extole", "settings": {"api_key": "k"}, **dest}]})


def test_the_config_loads_extole_with_defaults_and_its_rate_limit():
    [dc] = config().destinations
    assert dc.settings["base_url"] == "https://api.extole.io" and dc.settings["track_endpoint"] == "/v5/events"
    assert (dc.rate_limit.count, dc.rate_limit.period) == (100, 60)
    assert dc.secrets == ["k"]


def test_the_config_refuses_a_missing_key_or_an_unknown_endpoint():
    with pytest.raises(ConfigError, match="api_key"):
        parse_config({"destinations": [{"name": "x", "type": "extole", "settings": {}}]})
    with pytest.raises(ConfigError, match="track_endpoint"):
        config(settings={"api_key": "k", "track_endpoint": "/v7/events"})
    # a YAML block scalar ends in a newline, which "$" let through into the event file's name
    with pytest.raises(ConfigError, match="client_id"):
        config(settings={"api_key": "k", "client_id": "2147483647\n"})


def test_a_personas_identify_with_all_false_and_extole_platform_true_still_reaches_extole():
    router = Router(config().destinations)
    event = {"type": "identify", "userId": "u", "traits": {"order_completed_last_30days": True}, "integrations": {"All": False, "Extole Platform": True}}
    assert [d.name for d in router.destinations_for(event)] == ["extole-main"]
    assert router.destinations_for({**event, "integrations": {"All": False}}) == []
    assert router.destinations_for({**event, "type": "page", "integrations": {}}) == []


def test_event_time_reaches_extole_in_utc_whatever_offset_the_app_sent(make_runtime, client_for, extole):
    """Ingest normalises every timestamp to UTC (clock-skew correction included), so event_time is
    the same instant written with +0000, not the app's own offset."""
    from tests.helpers import WRITE_KEY, work

    rt = make_runtime(destinations=[{"name": "extole", "type": "extole",
                                     "settings": {"api_key": API_KEY, "base_url": extole.base_url}}])
    with client_for(rt) as client:
        r = client.post("/v1/track", json={"writeKey": WRITE_KEY, "userId": "u1", "event": "conversion", "messageId": "m-tz",
                                           "timestamp": "2026-11-23T12:00:00+02:00", "properties": {"order_id": "o-1"}})
        assert r.status_code == 200
    work(rt)
    [request] = extole.requests
    assert request.json()["data"]["event_time"] == "2026-11-23T10:00:00+0000"


def test_a_mixed_batch_of_several_users_is_one_request_per_event_in_the_order_received(extole):
    events = [
        {"type": "identify", "userId": "u1", "messageId": "m-1", "timestamp": TS, "traits": {"email": "ann@example.com"}},
        conversion("o-2"),
        {"type": "track", "event": "Audience Entered", "userId": "u1", "messageId": "m-3", "timestamp": TS,
         "properties": {"audience_key": "vip_users"}, "context": {"personas": {"computation_class": "audience"}}},
        {"type": "delete", "userId": "user-o-2", "messageId": "m-4", "timestamp": TS},
    ]
    outcomes = deliver(destination(extole), events)
    assert [o.status for o in outcomes] == [OutcomeStatus.DELIVERED] * 4
    time = "2026-11-23T10:00:00+0000"
    assert [(r.path, r.json()) for r in extole.requests] == [
        ("/v5/events", {"event_name": "identify", "data": {"partner_user_id": "u1", "email": "ann@example.com", "event_time": time}}),
        ("/v5/events", {"event_name": "conversion", "data": {
            "partner_user_id": "user-o-2", "partner_conversion_id": "o-2", "cart_value": "10.00", "event_time": time}}),
        ("/v5/events", {"event_name": "identify", "data": {"vip_users": True, "partner_user_id": "u1", "event_time": time}}),
        ("/v4/erasures", {"partner_user_id": "user-o-2", "note": "Erasure request from eventrouter"}),
    ]
