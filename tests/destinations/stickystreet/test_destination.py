"""The Sticky Street destination end to end against the fake vendor: map, batch, send, outcomes."""
from __future__ import annotations

from typing import Any

import pytest

from destinations import registry
from destinations.base import Outcome, OutcomeStatus, Prepared
from destinations.stickystreet import StickyStreetDestination
from router.errors import DeliveryError, Throttled
from tests.destinations.stickystreet.fake_stickystreet import API_KEY
from tests.fakes.http import Reply

BASE = {"timestamp": "2026-11-23T10:00:00.000Z", "receivedAt": "2026-11-23T10:00:01.000Z"}
S = OutcomeStatus
CREDENTIALS = ("API", "user_id", "user_api_key", "account_id")


def identify(user_id: str, **traits: Any) -> dict[str, Any]:
    return {**BASE, "type": "identify", "messageId": f"i-{user_id}", "userId": user_id, "traits": traits}


def order(user_id: str, revenue: float, order_id: str) -> dict[str, Any]:
    return {**BASE, "type": "track", "messageId": f"t-{order_id}", "userId": user_id, "event": "Order Completed",
            "properties": {"order_id": order_id, "revenue": revenue}}


def delete(user_id: str) -> dict[str, Any]:
    return {**BASE, "type": "delete", "messageId": f"d-{user_id}", "userId": user_id, "context": None, "integrations": None}


def deliver(dest: StickyStreetDestination, events: list[dict[str, Any]]) -> list[Outcome]:
    """What the delivery engine does with one drained batch: map each event, send the mapped ones."""
    outcomes: list[Outcome | None] = []
    prepared: list[Prepared] = []
    for event in events:
        try:
            prepared.append(Prepared(event, dest.map(event)))
            outcomes.append(None)
        except DeliveryError as exc:
            outcomes.append(Outcome.from_error(exc))
    sent = iter(dest.send(prepared))
    return [o or next(sent) for o in outcomes]


def statuses(outcomes: list[Outcome]) -> list[OutcomeStatus]:
    return [o.status for o in outcomes]


def test_the_registry_finds_sticky_street_under_its_names():
    plugin = registry.load("stickystreet")
    assert plugin is StickyStreetDestination
    assert plugin.display_name == "Sticky Street"
    assert {"StickyStreet", "Sticky Street Loyalty"} <= set(plugin.aliases)
    assert plugin.handles == {"identify", "track", "delete"}


def test_a_batch_of_identifies_with_the_same_fields_is_one_import(vendor, build):
    outcomes = deliver(build(), [identify("1", firstName="Jane", email="j@example.com"),
                                 identify("2", firstName="Jim", email="jim@example.com")])
    assert statuses(outcomes) == [S.DELIVERED, S.DELIVERED]
    assert len(vendor.requests) == 1
    assert vendor.customers == {
        "1": {"code": "1", "first_name": "Jane", "email": "j@example.com"},
        "2": {"code": "2", "first_name": "Jim", "email": "jim@example.com"},
    }


def test_with_update_an_identify_without_a_field_never_blanks_it_at_the_vendor(vendor, build):
    vendor.customers["1"] = {"code": "1", "first_name": "Jane", "phone": "555-5555"}
    outcomes = deliver(build(), [identify("1", email="jane@example.com"),
                                 identify("2", email="jim@example.com", phone="555-5556")])
    assert statuses(outcomes) == [S.DELIVERED, S.DELIVERED]
    assert vendor.customers["1"] == {"code": "1", "first_name": "Jane", "phone": "555-5555", "email": "jane@example.com"}
    assert [imp.headers for imp in vendor.imports] == [["code", "email"], ["code", "email", "phone"]]


def test_with_overwrite_yes_a_mixed_batch_is_one_import_with_the_union_of_columns(vendor, build):
    outcomes = deliver(build(overwrite_duplicates="yes"), [identify("1", email="a@example.com"),
                                                          identify("2", phone="555")])
    assert statuses(outcomes) == [S.DELIVERED, S.DELIVERED]
    (imp,) = vendor.imports
    assert imp.headers == ["code", "email", "phone"]
    assert imp.rows == [{"code": "1", "email": "a@example.com", "phone": ""}, {"code": "2", "email": "", "phone": "555"}]


def test_values_containing_delimiters_arrive_whole_in_their_own_columns(vendor, build):
    events = [identify("1", firstName="Jane|Ann", lastName="Doe, Jr."), identify("2", firstName="Jim", lastName="Tab\tby"),
              identify("3", firstName="Larry", lastName="Smith")]
    outcomes = deliver(build(), events)
    assert statuses(outcomes) == [S.DELIVERED] * 3
    assert {code: (c["first_name"], c["last_name"]) for code, c in vendor.customers.items()} == {
        "1": ("Jane|Ann", "Doe, Jr."), "2": ("Jim", "Tab\tby"), "3": ("Larry", "Smith")}
    assert sorted(f["delimiter"] for f in vendor.forms()) == ["pipe", "tab"]


def test_a_customer_that_cannot_be_put_on_a_line_is_rejected_and_the_rest_imported(vendor, build):
    events = [identify("1", firstName="a|b", lastName="c,d", city="e\tf"), identify("2", city="Oslo\nNorway"),
              identify("3", birthday="04-03-2010"), identify("4", firstName="Ok")]
    outcomes = deliver(build(), events)
    assert statuses(outcomes) == [S.REJECTED, S.REJECTED, S.REJECTED, S.DELIVERED]
    assert "no delimiter can separate" in outcomes[0].reason
    assert "line break" in outcomes[1].reason
    assert "04-03-2010" in outcomes[2].reason
    assert list(vendor.customers) == ["4"]


def test_one_customer_the_vendor_refuses_is_found_by_halving_and_the_others_are_imported(vendor, build):
    vendor.refuse_codes["3"] = "Invalid email address on line 3"
    events = [identify(str(n), email=f"{n}@example.com") for n in range(1, 9)]
    outcomes = deliver(build(), events)
    assert statuses(outcomes) == [S.DELIVERED, S.DELIVERED, S.REJECTED] + [S.DELIVERED] * 5
    assert outcomes[2].reason == "Sticky Street refused customers_batch: Invalid email address on line 3"
    assert sorted(vendor.customers) == ["1", "2", "4", "5", "6", "7", "8"]
    assert len(vendor.requests) == 7  # 8 refused, 4+4, 2+2, 1+1


def test_a_refusal_not_about_one_customer_stops_after_both_halves_are_refused(vendor, build):
    events = [identify(str(n), email=f"{n}@example.com") for n in range(1, 9)]
    outcomes = deliver(build(user_api_key="wrong"), events)
    assert statuses(outcomes) == [S.REJECTED] * 8
    assert {o.reason for o in outcomes} == {"Sticky Street refused customers_batch: Invalid user_id, user_api_key or account_id"}
    assert len(vendor.requests) == 3


def test_halving_can_be_turned_off(vendor, build):
    vendor.refuse_codes["3"] = "Bad row"
    outcomes = deliver(build(split_refused_batches=False), [identify(str(n), email="x@example.com") for n in range(1, 5)])
    assert statuses(outcomes) == [S.REJECTED] * 4
    assert len(vendor.requests) == 1


def test_when_the_vendor_is_down_the_failed_call_retries_and_the_rest_waits_without_spending_attempts(vendor, build):
    vendor.customers["9"] = {"code": "9"}
    vendor.script(Reply(503, "Service Unavailable"))
    outcomes = deliver(build(), [identify("1", email="a@example.com"), identify("2", phone="1"), delete("9")])
    assert statuses(outcomes) == [S.RETRY] * 3
    assert outcomes[0].counts_as_attempt and outcomes[0].http_status == 503
    assert [o.counts_as_attempt for o in outcomes[1:]] == [False, False]
    assert outcomes[1].reason == "not attempted: Sticky Street answered 503"
    assert len(vendor.requests) == 1


def test_a_busy_answer_while_halving_stops_the_search(vendor, build):
    vendor.refuse_codes["1"] = "Bad row"
    vendor.script(Reply(200, '<response status="error"><error>Bad row</error></response>'),
                  Reply(200, '<response status="error"><error>System busy</error></response>'))
    outcomes = deliver(build(), [identify(str(n), email="x@example.com") for n in range(1, 5)])
    assert statuses(outcomes) == [S.RETRY] * 4
    assert [o.counts_as_attempt for o in outcomes] == [True, True, False, False]
    assert len(vendor.requests) == 2


def test_the_shared_rate_limit_holds_the_rest_of_the_batch_without_spending_attempts(vendor, build):
    calls = []

    def throttle():
        calls.append(1)
        if len(calls) > 1:
            raise Throttled("rate limit", retry_after=2.0)

    dest = StickyStreetDestination(build().settings, throttle=throttle)
    vendor.customers["9"] = {"code": "9"}
    outcomes = deliver(dest, [identify("1", email="a@example.com"), delete("9"), identify("2", phone="1")])
    assert statuses(outcomes) == [S.DELIVERED, S.RETRY, S.RETRY]
    assert [(o.counts_as_attempt, o.retry_after) for o in outcomes[1:]] == [(False, 2.0), (False, 2.0)]
    assert len(vendor.requests) == 1


def test_a_mixed_batch_imports_customers_before_their_orders_and_keeps_deletes_in_place(vendor, build):
    vendor.customers["old"] = {"code": "old"}
    events = [
        order("new", 19.99, "o-1"),          # before its identify in the batch: still recorded after the import
        identify("new", email="new@example.com"),
        {**BASE, "type": "track", "messageId": "t-x", "userId": "new", "event": "Product Viewed", "properties": {}},
        delete("old"),
        identify("old", email="back@example.com"),  # deleted, then signed up again: exists at the end
        delete("ghost"),                     # unknown to the vendor: already done
    ]
    outcomes = deliver(build(record_activity=True, campaign_id="777"), events)
    assert statuses(outcomes) == [S.DELIVERED, S.DELIVERED, S.SKIPPED, S.DELIVERED, S.DELIVERED, S.DELIVERED]
    # each customer's calls in the order received; the second import of "old" waits for its delete
    assert [(f["type"], f.get("code") or f.get("profiles_data")) for f in vendor.forms()] == [
        ("customers_batch", "new|new@example.com\n"),
        ("record_activity", "new"),
        ("customer_delete", "old"),
        ("customer_delete", "ghost"),
        ("customers_batch", "old|back@example.com\n"),
    ]
    assert [(a.code, a.campaign_id, a.amount, a.authorization) for a in vendor.activities] == [("new", "777", "19.99", "o-1")]
    assert vendor.customers["old"] == {"code": "old", "email": "back@example.com"}
    assert vendor.deleted == ["old"]


def test_an_order_for_a_customer_the_vendor_does_not_know_is_rejected(vendor, build):
    outcomes = deliver(build(record_activity=True, campaign_id="777"), [order("stranger", 5, "o-9")])
    assert statuses(outcomes) == [S.REJECTED]
    assert outcomes[0].reason == "Sticky Street refused record_activity: Customer not found"


def test_send_one_delivers_a_single_identify_through_the_same_batch_shaping(vendor, build):
    dest = build()
    event = identify("1", email="a@example.com")
    assert dest.send_one(Prepared(event, dest.map(event))).status is S.DELIVERED
    assert vendor.forms()[0]["profiles_data"] == "1|a@example.com\n"


@pytest.mark.parametrize("output", ["XML", "JSON"])
def test_json_or_xml_output_both_deliver(vendor, build, output):
    outcomes = deliver(build(output=output), [identify("1", email="a@example.com")])
    assert statuses(outcomes) == [S.DELIVERED]


def test_the_api_key_never_appears_in_any_outcome(vendor, build):
    vendor.script(Reply(200, f'<response status="error"><error>key {API_KEY} expired</error></response>'),
                  Reply(200, f"<b>Warning</b>: {API_KEY}"),
                  Reply(500, f"trace: user_api_key={API_KEY}"))
    outcomes = []
    for _ in range(3):
        outcomes += deliver(build(split_refused_batches=False), [identify("1", email="a@example.com")])
    assert statuses(outcomes) == [S.REJECTED, S.RETRY, S.RETRY]
    assert all(API_KEY not in o.reason + (o.response or "") for o in outcomes)


# the latest identify wins -------------------------------------------------------------------------

THREE_IDENTIFIES = {
    "name_in_the_middle": ([{"email": "old@example.com"}, {"email": "mid@example.com", "firstName": "Mid"},
                            {"email": "new@example.com"}], "new@example.com|Mid"),
    "name_first_and_last": ([{"email": "old@example.com", "firstName": "Old"}, {"email": "mid@example.com"},
                             {"email": "new@example.com", "firstName": "New"}], "new@example.com|New"),
}


@pytest.mark.parametrize("traits, cells", THREE_IDENTIFIES.values(), ids=THREE_IDENTIFIES)
def test_a_customer_identified_three_times_in_a_batch_is_imported_once_with_the_newest_values(vendor, build, traits, cells):
    events = [{**identify("7", **t), "messageId": f"i-{n}"} for n, t in enumerate(traits)]
    outcomes = deliver(build(), events)
    assert statuses(outcomes) == [S.DELIVERED] * 3
    [form] = vendor.forms()
    assert {k: v for k, v in form.items() if k.startswith("profiles_")} == {
        "profiles_header_1": "code", "profiles_header_2": "first_name", "profiles_header_3": "email",
        "profiles_data": f"7|{cells.split('|')[1]}|{cells.split('|')[0]}\n",
    }
    email, first_name = cells.split("|")
    assert vendor.customers["7"] == {"code": "7", "email": email, "first_name": first_name}


def test_a_mixed_batch_of_several_customers_keeps_each_customers_order(vendor, build):
    vendor.customers["2"] = {"code": "2", "email": "two@example.com"}
    events = [
        order("1", 10, "o-1"),                       # recorded once customer 1 exists
        identify("1", email="one@example.com"),
        identify("2", firstName="Two"),
        order("2", 5, "o-2"),
        delete("2"),                                 # after its order: nothing reaches an erased customer
        identify("1", email="uno@example.com", firstName="Uno"),
        order("1", 20, "o-3"),
    ]
    outcomes = deliver(build(record_activity=True, campaign_id="777"), events)
    assert statuses(outcomes) == [S.DELIVERED] * 7
    imports = {"type": "customers_batch", "delimiter": "pipe", "overwrite_duplicates": "update",
               "campaigns_to_include": "898989889,13234545", "profiles_header_1": "code", "profiles_header_2": "first_name"}
    assert [{k: v for k, v in f.items() if k not in CREDENTIALS} for f in vendor.forms()] == [
        # customer 1's two identifies, merged
        {**imports, "profiles_header_3": "email", "profiles_data": "1|Uno|uno@example.com\n"},
        # customer 2's columns differ: an import of its own
        {**imports, "profiles_data": "2|Two\n"},
        {"type": "record_activity", "code": "1", "campaign_id": "777", "amount": "10.00", "authorization": "o-1"},
        {"type": "record_activity", "code": "2", "campaign_id": "777", "amount": "5.00", "authorization": "o-2"},
        {"type": "record_activity", "code": "1", "campaign_id": "777", "amount": "20.00", "authorization": "o-3"},
        {"type": "customer_delete", "code": "2"},
    ]
    assert [(a.code, a.authorization) for a in vendor.activities] == [("1", "o-1"), ("2", "o-2"), ("1", "o-3")]
    assert vendor.customers == {"1": {"code": "1", "first_name": "Uno", "email": "uno@example.com"}}
