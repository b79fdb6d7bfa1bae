"""YespoDestination as the delivery engine drives it: map each event, send the batch, one outcome per event."""
from __future__ import annotations

from typing import Any

import pytest

from destinations import registry
from destinations.base import Outcome, Prepared, secret_values
from destinations.yespo import YespoDestination
from destinations.yespo.settings import YespoSettings
from router.config import parse_config
from router.errors import ConfigError, DeliveryError, Throttled
from tests.destinations.yespo.fake_yespo import API_KEY, FakeYespo
from tests.fakes.http import Reply

TS = "2026-11-23T10:00:00.000Z"
OLD = "2020-01-02T03:04:05.000Z"


def destination(vendor: FakeYespo, throttle: Any = None, **overrides: Any) -> YespoDestination:
    settings = YespoSettings().load({"base_url": vendor.base_url, "api_key": API_KEY, "timeout": 2, **overrides})
    return YespoDestination(settings, throttle=throttle)


def deliver(dest: YespoDestination, events: list[dict[str, Any]]) -> list[Outcome]:
    """What the engine does with one drained batch."""
    outcomes: list[Outcome | None] = [None] * len(events)
    prepared, where = [], []
    for i, event in enumerate(events):
        try:
            prepared.append(Prepared(event, dest.map(event)))
            where.append(i)
        except DeliveryError as exc:
            outcomes[i] = Outcome.from_error(exc)
    for i, outcome in zip(where, dest.send(prepared)):
        outcomes[i] = outcome
    return outcomes  # type: ignore[return-value]


def track(name: str, user: str = "u1", timestamp: str = TS, **properties: Any) -> dict[str, Any]:
    return {
        "type": "track", "event": name, "userId": user, "messageId": f"{name}-{user}", "timestamp": timestamp,
        "context": {"traits": {"email": f"{user}@example.com"}}, "properties": properties,
    }


def identify(user: str, **traits: Any) -> dict[str, Any]:
    return {"type": "identify", "userId": user, "messageId": f"id-{user}", "timestamp": TS, "traits": traits}


def statuses(outcomes: list[Outcome]) -> list[str]:
    return [o.status.value for o in outcomes]


def test_registry_finds_the_plugin_and_its_declared_capabilities() -> None:
    cls = registry.load("yespo")
    assert cls is YespoDestination
    assert (cls.display_name, cls.aliases, cls.handles) == ("Yespo", ("eSputnik",), frozenset({"identify", "track", "delete"}))
    assert cls.default_rate_limit == "200/second"
    assert cls.supports_delete()


def test_config_loads_with_defaults_and_marks_the_api_key_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YESPO_KEY", "s3cret")
    config = parse_config({"destinations": [{"name": "my-yespo", "type": "yespo", "settings": {"api_key": "${YESPO_KEY}"}}]})
    dc = config.destination("my-yespo")
    assert dc.settings["base_url"] == "https://yespo.io"
    assert dc.settings["api_version"] == "v1"
    assert dc.rate_limit.per_second == 200
    assert dc.secrets == ["s3cret"]
    assert secret_values(YespoSettings(), dc.settings) == ["s3cret"]


def test_config_errors_name_the_key_path() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"destinations": [{"name": "y", "type": "yespo", "settings": {"forbidden_char_replacement": "/"}}]})
    assert exc.value.errors == {
        "destinations[0].settings.api_key": "missing (required)",
        "destinations[0].settings.forbidden_char_replacement": "must not contain characters Yespo forbids: /",
    }


def test_a_mixed_batch_gets_one_outcome_per_event_in_order(vendor: FakeYespo) -> None:
    events = [
        identify("u1", email="u1@example.com", firstName="Ann"),
        track("Signed Up", plan="pro"),
        track("Order Completed", order_id="o1", total=10, currency="EUR", products=[{"sku": "s1", "price": 10}]),
        {"type": "page", "userId": "u1", "timestamp": TS, "name": "Home"},
        {"type": "delete", "userId": "u1", "messageId": "d1", "timestamp": TS, "context": None, "integrations": None},
        {"type": "delete", "userId": "u9", "messageId": "d2", "timestamp": TS, "context": [], "integrations": []},
        {"type": "track", "event": "Signed Up", "anonymousId": "a1", "timestamp": TS, "properties": {}},
    ]
    outcomes = deliver(destination(vendor), events)
    assert statuses(outcomes) == ["delivered", "delivered", "delivered", "skipped", "delivered", "delivered", "rejected"]
    assert outcomes[-1].reason == "no email or userId for Yespo's keyValue"
    assert [(r.method, r.path) for r in vendor.requests] == [
        ("POST", "/api/v1/contact"),
        ("POST", "/api/v1/event"),
        ("POST", "/api/v1/event"),
        ("DELETE", "/api/v1/contact"),
        ("DELETE", "/api/v1/contact"),
    ]
    assert vendor.requests[2].json()["eventTypeKey"] == "orderCreated"
    assert outcomes[5].http_status == 404  # never in Yespo: nothing to erase


def test_a_429_holds_back_the_rest_of_the_batch_without_spending_its_attempts(vendor: FakeYespo) -> None:
    vendor.script("POST", "/api/v1/event", Reply(429, {"error": "Too many requests"}, headers={"Retry-After": "2"}))
    outcomes = deliver(destination(vendor), [track("A"), track("B"), track("C")])
    assert statuses(outcomes) == ["retry", "retry", "retry"]
    assert (outcomes[0].http_status, outcomes[0].retry_after, outcomes[0].counts_as_attempt) == (429, 2.0, True)
    assert [(o.retry_after, o.counts_as_attempt) for o in outcomes[1:]] == [(2.0, False), (2.0, False)]
    assert len(vendor.requests) == 1


def test_our_rate_limit_leaves_the_rest_of_the_batch_waiting_without_using_attempts(vendor: FakeYespo) -> None:
    allowed = iter([True, True])

    def throttle(bucket: str | None = None) -> None:
        if not next(allowed, False):
            raise Throttled("rate limit reached", retry_after=0.5)

    outcomes = deliver(destination(vendor, throttle=throttle), [track("A"), track("B"), track("C"), track("D")])
    assert statuses(outcomes) == ["delivered", "delivered", "retry", "retry"]
    assert [o.counts_as_attempt for o in outcomes[2:]] == [False, False]
    assert len(vendor.requests) == 2


def test_old_events_go_to_past_events_in_requests_of_500_with_an_outcome_each(vendor: FakeYespo) -> None:
    vendor.statuses = {"Unsegmented": "EVENT_SEGMENTATION_DISABLED", "Flaky": "SERVER_ERROR"}
    events = [track("Viewed", user=f"u{i}", timestamp=OLD) for i in range(499)]
    events += [track("Unsegmented", timestamp=OLD), track("Flaky", timestamp=OLD), track("Fresh")]
    outcomes = deliver(destination(vendor, past_events_after_days=30), events)
    assert [(r.path, len(r.json().get("events", []))) for r in vendor.requests] == [
        ("/api/v1/past_events", 500),
        ("/api/v1/past_events", 1),
        ("/api/v1/event", 0),
    ]
    assert vendor.requests[0].json()["events"][0]["occurred"] == "2020-01-02T03:04"
    assert statuses(outcomes) == ["delivered"] * 499 + ["rejected", "retry", "delivered"]
    assert outcomes[499].reason == (
        "Yespo refused the past event: EVENT_SEGMENTATION_DISABLED (enable event segmentation for this event type in Yespo)"
    )


def test_orders_api_sends_up_to_1000_orders_per_request(vendor: FakeYespo) -> None:
    vendor.refuse_orders = {"o1000": "duplicate order"}
    events = [
        track("Order Completed", order_id=f"o{i}", total=5, currency="EUR", products=[{"sku": "s", "price": 5}])
        for i in range(1001)
    ]
    outcomes = deliver(destination(vendor, orders_via="orders_api"), events)
    assert [(r.path, len(r.json()["orders"])) for r in vendor.requests] == [("/api/v1/orders", 1000), ("/api/v1/orders", 1)]
    assert statuses(outcomes) == ["delivered"] * 1000 + ["rejected"]
    assert outcomes[-1].reason == "Yespo refused the order: duplicate order"


def test_bulk_identify_never_nulls_fields_another_contact_of_the_batch_lacks(vendor: FakeYespo) -> None:
    dest = destination(vendor, identify_via="contacts", contact_fields={"plan": 111})
    deliver(dest, [identify("u1", email="u1@example.com", firstName="Ann", lastName="Lee", plan="pro")])
    before = len(vendor.requests)
    outcomes = deliver(
        dest,
        [
            identify("u1", email="u1@example.com", lastName="Li"),
            identify("u2", email="u2@example.com", firstName="Bo", lastName="Ng", plan="free"),
            identify("u3", email="u3@example.com", lastName="Ox"),
        ],
    )
    assert statuses(outcomes) == ["delivered"] * 3
    sent = [r.json() for r in vendor.requests[before:]]
    assert [(b["contactFields"], b.get("customFieldsIDs"), len(b["contacts"])) for b in sent] == [
        (["email", "lastName", "externalCustomerId"], None, 2),
        (["email", "firstName", "lastName", "externalCustomerId"], [111], 1),
    ]
    assert vendor.contacts["externalCustomerId:u1"] == {
        "email": "u1@example.com", "firstName": "Ann", "lastName": "Li", "externalCustomerId": "u1", "field:111": "pro",
    }


def test_bulk_identify_rejects_only_the_contact_yespo_refused(vendor: FakeYespo) -> None:
    vendor.refuse_contacts = {"u2@example.com": "Invalid email"}
    dest = destination(vendor, identify_via="contacts")
    outcomes = deliver(dest, [identify("u1", email="u1@example.com"), identify("u2", email="u2@example.com")])
    assert statuses(outcomes) == ["delivered", "rejected"]
    assert outcomes[1].reason == "Yespo refused the contact: Invalid email"


def test_a_server_error_on_a_bulk_request_retries_every_event_it_carried(vendor: FakeYespo) -> None:
    vendor.script("POST", "/api/v1/past_events", Reply(500, "Internal Server Error"))
    outcomes = deliver(destination(vendor, past_events_after_days=1), [track("A", timestamp=OLD), track("B", timestamp=OLD)])
    assert statuses(outcomes) == ["retry", "retry"]
    assert outcomes[0].http_status == 500


def test_the_api_key_appears_in_no_outcome(vendor: FakeYespo) -> None:
    vendor.api_key = "the-real-key"
    try:
        outcomes = deliver(destination(vendor), [track("A"), identify("u1", email="u1@example.com")])
    finally:
        vendor.api_key = API_KEY
    assert statuses(outcomes) == ["rejected", "rejected"]
    assert all(API_KEY not in f"{o.reason}{o.response}" for o in outcomes)


def test_events_and_past_events_draw_on_their_own_rate_limit_buckets(vendor: FakeYespo) -> None:
    buckets: list[str | None] = []
    dest = destination(vendor, throttle=lambda bucket=None: buckets.append(bucket), past_events_after_days=30)
    outcomes = deliver(dest, [track("Live"), track("Old", timestamp=OLD), identify("u1", email="u1@example.com")])
    assert statuses(outcomes) == ["delivered", "delivered", "delivered"]
    assert sorted(buckets, key=str) == [None, "event", "past_events"]  # the contact upsert uses the default
    assert YespoDestination.rate_limits == {"event": "350/second", "past_events": "100/second"}


# the latest identify wins; a contact exists before its events -------------------------------------

THREE_IDENTIFIES = {
    # the identify with a name in the middle, as in the issue: the newest email must still win
    "name_in_the_middle": ([("old", {}), ("mid", {"firstName": "Mid"}), ("new", {})], "Mid"),
    # the other direction: the richer identifies first and last, a bare one between them
    "name_first_and_last": ([("old", {"firstName": "Old"}), ("mid", {}), ("new", {"firstName": "New"})], "New"),
}


def three_identifies(spec: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [
        {**identify("u1", email=f"{email}@example.com", **traits), "messageId": f"id-{n}"}
        for n, (email, traits) in enumerate(spec)
    ]


@pytest.mark.parametrize("spec, name", THREE_IDENTIFIES.values(), ids=THREE_IDENTIFIES)
def test_bulk_upsert_sends_one_merged_contact_so_the_newest_identify_wins(vendor: FakeYespo, spec: Any, name: str) -> None:
    outcomes = deliver(destination(vendor, identify_via="contacts"), three_identifies(spec))
    assert statuses(outcomes) == ["delivered"] * 3
    assert [r.json() for r in vendor.requests] == [{
        "contacts": [{"channels": [{"type": "email", "value": "new@example.com"}], "firstName": name, "externalCustomerId": "u1"}],
        "dedupeOn": "externalCustomerId",
        "contactFields": ["email", "firstName", "externalCustomerId"],
        "restoreDeleted": False,
    }]
    assert vendor.contacts == {
        "externalCustomerId:u1": {"email": "new@example.com", "firstName": name, "externalCustomerId": "u1"},
    }


@pytest.mark.parametrize("spec, name", THREE_IDENTIFIES.values(), ids=THREE_IDENTIFIES)
def test_single_contact_upserts_send_one_merged_contact_per_user(vendor: FakeYespo, spec: Any, name: str) -> None:
    outcomes = deliver(destination(vendor), three_identifies(spec) + [identify("u2", email="u2@example.com")])
    assert statuses(outcomes) == ["delivered"] * 4
    assert [(r.path, r.json()) for r in vendor.requests] == [
        ("/api/v1/contact", {"channels": [{"type": "email", "value": "new@example.com"}], "firstName": name, "externalCustomerId": "u1"}),
        ("/api/v1/contact", {"channels": [{"type": "email", "value": "u2@example.com"}], "externalCustomerId": "u2"}),
    ]
    assert vendor.contacts["externalCustomerId:u1"]["email"] == "new@example.com"


def test_a_contact_is_written_before_the_events_about_it(vendor: FakeYespo) -> None:
    events = [track("Viewed", user="u1"), identify("u2", email="u2@example.com"), track("Signed Up", user="u2")]
    outcomes = deliver(destination(vendor), events)
    assert statuses(outcomes) == ["delivered"] * 3
    assert [(r.path, r.json()) for r in vendor.requests] == [
        ("/api/v1/contact", {"channels": [{"type": "email", "value": "u2@example.com"}], "externalCustomerId": "u2"}),
        ("/api/v1/event", {"eventTypeKey": "Viewed", "keyValue": "u1@example.com", "params": [
            {"name": "email", "value": "u1@example.com"}, {"name": "externalCustomerId", "value": "u1"}]}),
        ("/api/v1/event", {"eventTypeKey": "Signed Up", "keyValue": "u2@example.com", "params": [
            {"name": "email", "value": "u2@example.com"}, {"name": "externalCustomerId", "value": "u2"}]}),
    ]


def test_a_mixed_batch_of_several_users_sends_contacts_then_orders_then_events_then_erasures(vendor: FakeYespo) -> None:
    order = {"order_id": "o1", "total": 10, "currency": "eur", "products": [{"sku": "s1", "price": 10, "quantity": 2}]}
    events = [
        track("Viewed", user="u1"),
        {**track("Order Completed", user="u2", **order), "messageId": "o-u2"},
        identify("u1", email="u1@example.com", firstName="Ann"),
        identify("u2", email="u2@example.com"),
        {"type": "delete", "userId": "u3", "messageId": "d3", "timestamp": TS, "context": None, "integrations": None},
        identify("u3", email="u3@example.com"),  # erased, then signed up again: exists at the end
        track("Signed Up", user="u1"),
    ]
    outcomes = deliver(destination(vendor, identify_via="contacts", orders_via="orders_api"), events)
    assert statuses(outcomes) == ["delivered"] * 7

    def bulk(contact: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        return {"contacts": [contact], "dedupeOn": "externalCustomerId", "contactFields": fields, "restoreDeleted": False}

    def event(name: str) -> dict[str, Any]:
        return {"eventTypeKey": name, "keyValue": "u1@example.com", "params": [
            {"name": "email", "value": "u1@example.com"}, {"name": "externalCustomerId", "value": "u1"}]}

    assert [(r.method, r.path, r.query, r.json() if r.body else None) for r in vendor.requests] == [
        # u1 and u2 carry different fields: a request each
        ("POST", "/api/v1/contacts", {}, bulk({"channels": [{"type": "email", "value": "u1@example.com"}], "firstName": "Ann",
                                               "externalCustomerId": "u1"}, ["email", "firstName", "externalCustomerId"])),
        ("POST", "/api/v1/contacts", {}, bulk({"channels": [{"type": "email", "value": "u2@example.com"}],
                                               "externalCustomerId": "u2"}, ["email", "externalCustomerId"])),
        ("POST", "/api/v1/orders", {}, {"orders": [{
            "email": "u2@example.com", "externalOrderId": "o1", "externalCustomerId": "u2", "totalCost": 10,
            "status": "INITIALIZED", "currency": "EUR", "items": [{"externalItemId": "s1", "quantity": 2, "cost": 10}],
            "date": "2026-11-23T10:00:00Z"}]}),
        ("POST", "/api/v1/event", {}, event("Viewed")),
        ("POST", "/api/v1/event", {}, event("Signed Up")),
        ("DELETE", "/api/v1/contact", {"externalCustomerId": ["u3"], "erase": ["true"]}, None),
        # u3 again, after its erasure
        ("POST", "/api/v1/contacts", {}, bulk({"channels": [{"type": "email", "value": "u3@example.com"}],
                                               "externalCustomerId": "u3"}, ["email", "externalCustomerId"])),
    ]
    assert vendor.contacts["externalCustomerId:u3"]["email"] == "u3@example.com"


def test_events_of_a_user_whose_contact_is_to_be_retried_wait_behind_it(vendor: FakeYespo) -> None:
    # a failure Yespo names no contact of: the contacts are sent again, so their events must wait
    vendor.script("POST", "/api/v1/contacts", Reply(200, {"asyncSessionId": "s", "failedContacts": {"error": "busy"}}))
    events = [identify("u2", email="u2@example.com"), track("Viewed", user="u1"), track("Signed Up", user="u2")]
    outcomes = deliver(destination(vendor, identify_via="contacts"), events)
    assert statuses(outcomes) == ["retry", "delivered", "retry"]
    assert outcomes[2].counts_as_attempt is False
    assert outcomes[2].reason.startswith("held behind an earlier call of the same user: Yespo refused 1 contact(s)")
    assert [(r.path, r.json().get("eventTypeKey")) for r in vendor.requests] == [
        ("/api/v1/contacts", None), ("/api/v1/event", "Viewed")]


def test_a_drop_properties_filter_keeps_a_context_trait_out_of_the_yespo_contact(vendor: FakeYespo) -> None:
    from router.filters import compile_filters

    event = {"type": "identify", "userId": "u1", "messageId": "id-u1", "timestamp": TS,
             "traits": {"email": "u1@example.com"}, "context": {"traits": {"phone": "+358401234567", "firstName": "Ann"}}}
    filtered = compile_filters([{"then": {"drop_properties": ["phone"]}}]).apply(event).event
    assert statuses(deliver(destination(vendor), [filtered])) == ["delivered"]
    assert [r.json() for r in vendor.requests] == [{
        "channels": [{"type": "email", "value": "u1@example.com"}],
        "firstName": "Ann", "externalCustomerId": "u1",
    }]


def test_a_refused_contact_rejects_its_users_later_events_of_the_batch_and_nothing_else(vendor: FakeYespo) -> None:
    vendor.refuse_contacts = {"u2@example.com": "Invalid email"}
    dest = destination(vendor, identify_via="contacts")
    outcomes = deliver(dest, [
        track("Early", "u2"), identify("u2", email="u2@example.com"), track("Late", "u2"),
        identify("u1", email="u1@example.com"), track("Other", "u1"),
    ])
    assert statuses(outcomes) == ["delivered", "rejected", "rejected", "delivered", "delivered"]
    assert outcomes[2].reason == "its contact was refused: Yespo refused the contact: Invalid email"
    assert [(r.path, r.json().get("eventTypeKey")) for r in vendor.requests] == [
        ("/api/v1/contacts", None), ("/api/v1/event", "Early"), ("/api/v1/event", "Other"),
    ]


def test_bulk_identify_naming_a_contact_by_email_only_merges_with_its_user_id_contact(vendor: FakeYespo) -> None:
    """P's later identify names them by email only: it must not go in another request before the
    older one (here the request of Q's contact, which carries the same fields), nor beside it."""
    events = [
        {**identify("q", email="q@example.com", firstName="Quinn"), "userId": None, "anonymousId": "anon-q"},
        {**identify("u7", email="p@example.com", firstName="Old"), "messageId": "id-old"},
        {**identify("u7", email="p@example.com", firstName="New"), "messageId": "id-new", "userId": None, "anonymousId": "anon-p"},
    ]
    outcomes = deliver(destination(vendor, identify_via="contacts", dedupe_on="email"), events)
    assert statuses(outcomes) == ["delivered"] * 3
    assert [r.json()["contacts"] for r in vendor.requests] == [
        [{"channels": [{"type": "email", "value": "q@example.com"}], "firstName": "Quinn"}],
        [{"channels": [{"type": "email", "value": "p@example.com"}], "firstName": "New", "externalCustomerId": "u7"}],
    ]


@pytest.mark.parametrize("identify_via", ["contact", "contacts"])
def test_audience_entered_and_exited_reach_yespo_as_a_contact_field_holding_true_or_false(vendor, identify_via) -> None:
    key = "order_completed_last_30days"
    dest = destination(vendor, contact_fields={key: 777}, identify_via=identify_via)
    entered = {**track("Audience Entered", "u1", audience_key=key), "messageId": "m-in"}
    exited = {**track("Audience Exited", "u2", audience_key=key), "messageId": "m-out"}
    assert statuses(deliver(dest, [entered, exited])) == ["delivered", "delivered"]
    contacts = {c["externalCustomerId"]: c for r in vendor.requests for c in r.json().get("contacts", [r.json()])}
    assert contacts == {
        user: {"channels": [{"type": "email", "value": f"{user}@example.com"}], "externalCustomerId": user,
               "fields": [{"id": 777, "value": member}]}
        for user, member in (("u1", "true"), ("u2", "false"))
    }
