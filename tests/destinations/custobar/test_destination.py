"""The Custobar destination end to end against a fake Custobar: map, batch, split, outcomes."""
from __future__ import annotations

import logging

import pytest
from typing import Any

from destinations.base import Prepared
from destinations.custobar import CustobarDestination
from router.errors import Throttled
from tests.destinations.custobar.conftest import TS, event
from tests.destinations.custobar.fake_custobar import FakeCustobar, Reply


def prepare(dest: CustobarDestination, events: list[dict[str, Any]]) -> list[Prepared]:
    return [Prepared(e, dest.map(e)) for e in events]


def person(n: int, **traits: Any) -> dict[str, Any]:
    return event("identify", userId=f"user-{n}", messageId=f"m-{n}", traits={"email": f"u{n}@example.com", **traits})


def order(order_id: str, *product_ids: str) -> dict[str, Any]:
    products = [{"product_id": p, "price": 10, "quantity": 1} for p in product_ids]
    return event("track", event="Order Completed", messageId=f"m-{order_id}", properties={"order_id": order_id, "products": products})


def statuses(outcomes) -> list[str]:
    return [o.status.value for o in outcomes]


def test_a_batch_makes_one_upload_per_endpoint_customers_first_and_deletes_last(destination_for):
    events = [
        event("track", event="Product Viewed", properties={"product_id": "p-9"}),
        person(1, firstName="Ada"),
        order("ORD-1", "p-1", "p-2", "p-3"),
        {"type": "delete", "userId": "user-2", "messageId": "m-del", "timestamp": TS, "context": None, "integrations": []},
        person(3),
    ]
    with FakeCustobar() as vendor:
        dest = destination_for(vendor.base_url)
        outcomes = dest.send(prepare(dest, events))
    assert statuses(outcomes) == ["delivered"] * 5
    assert [(r.path, r.json()) for r in vendor.requests] == [
        ("/api/customers/upload/", {"customers": [
            {"external_id": "user-1", "email": "u1@example.com", "first_name": "Ada"},
            {"external_id": "user-3", "email": "u3@example.com"},
        ]}),
        ("/api/sales/upload/", {"sales": vendor.accepted["sales"]}),
        ("/api/events/", {"events": [{"type": "BROWSE", "date": TS, "customer_id": "user-1", "product_id": "p-9"}]}),
        # an erasure goes after everything else in the batch, so nothing can follow it
        ("/api/customers/upload/", {"customers": [{"external_id": "user-2", "is_deleted": True}]}),
    ]
    assert [row["external_id"] for row in vendor.accepted["sales"]] == ["ORD-1-1", "ORD-1-2", "ORD-1-3"]


def refuse_undefined_field(kind: str, record: dict[str, Any]) -> str | None:
    """Custobar refuses a custom field missing from the account's data schema."""
    undefined = [key for key in record if key.startswith("acme__") and key != "acme__loyalty_level"]
    return f"unknown field {undefined[0]}" if undefined else None


def test_one_record_custobar_refuses_does_not_poison_the_rest_of_the_batch(destination_for):
    events = [person(n) for n in range(1, 8)]
    events[4] = person(5, shoeSize=42)
    with FakeCustobar(refuse=refuse_undefined_field) as vendor:
        dest = destination_for(vendor.base_url, company_prefix="acme")
        outcomes = dest.send(prepare(dest, events))
    assert statuses(outcomes) == ["delivered"] * 4 + ["rejected"] + ["delivered"] * 2
    bad = outcomes[4]
    assert bad.reason == "Custobar refused the upload (400): customers[0]: unknown field acme__shoe_size"
    assert bad.http_status == 400
    assert sorted(c["external_id"] for c in vendor.accepted["customers"]) == [f"user-{n}" for n in (1, 2, 3, 4, 6, 7)]
    # halving: 7 -> 3 + 4 -> 4 refused -> 2 + 2 -> 2 refused -> 1 + 1
    assert len(vendor.requests) == 7


def test_an_order_is_refused_or_delivered_whole_and_keeps_its_rows_in_one_request(destination_for):
    refuse = lambda kind, row: "unknown product p-gone" if row.get("product_id") == "p-gone" else None  # noqa: E731
    events = [order("ORD-1", "p-1", "p-2"), order("ORD-2", "p-3", "p-gone", "p-4"), order("ORD-3", "p-5")]
    with FakeCustobar(refuse=refuse) as vendor:
        dest = destination_for(vendor.base_url)
        outcomes = dest.send(prepare(dest, events))
    assert statuses(outcomes) == ["delivered", "rejected", "delivered"]
    assert "unknown product p-gone" in outcomes[1].reason
    assert [row["sale_external_id"] for row in vendor.accepted["sales"]] == ["ORD-1", "ORD-1", "ORD-3"]
    for req in vendor.requests:
        rows_per_order: dict[str, int] = {}
        for row in req.json()["sales"]:
            rows_per_order[row["sale_external_id"]] = rows_per_order.get(row["sale_external_id"], 0) + 1
        assert all(count == {"ORD-1": 2, "ORD-2": 3, "ORD-3": 1}[o] for o, count in rows_per_order.items())


def test_a_refusal_of_the_whole_request_rejects_every_event_without_splitting(destination_for):
    with FakeCustobar(token="another-token") as vendor:
        dest = destination_for(vendor.base_url)
        outcomes = dest.send(prepare(dest, [person(n) for n in range(4)]))
    assert statuses(outcomes) == ["rejected"] * 4
    assert {o.http_status for o in outcomes} == {401}
    assert len(vendor.requests) == 1


def test_a_throttled_custobar_retries_that_upload_and_the_rest_waits_without_spending_attempts(destination_for):
    with FakeCustobar() as vendor:
        vendor.script(Reply(429, {"detail": "Request was throttled."}, {"Retry-After": "30"}))
        dest = destination_for(vendor.base_url)
        outcomes = dest.send(prepare(dest, [person(1), person(2), order("ORD-1", "p-1")]))
    assert statuses(outcomes) == ["retry"] * 3
    assert [(o.retry_after, o.counts_as_attempt) for o in outcomes] == [(30.0, True), (30.0, True), (30.0, False)]
    assert len(vendor.requests) == 1


def test_a_server_error_after_a_delivered_upload_keeps_the_delivered_ones(destination_for):
    with FakeCustobar() as vendor:
        dest = destination_for(vendor.base_url)
        vendor.script(Reply(200, {"response": "ok"}), Reply(502, "Bad Gateway"))
        outcomes = dest.send(prepare(dest, [person(1), order("ORD-1", "p-1"), person(2)]))
    assert statuses(outcomes) == ["delivered", "retry", "delivered"]
    assert outcomes[1].http_status == 502


def test_our_own_rate_limit_holds_back_what_was_not_sent_yet(destination_for):
    allowed = iter([True])

    def throttle() -> None:
        if not next(allowed, False):
            raise Throttled("rate limit 180/minute reached", retry_after=0.3)

    with FakeCustobar() as vendor:
        dest = destination_for(vendor.base_url, throttle=throttle)
        outcomes = dest.send(prepare(dest, [person(1), order("ORD-1", "p-1")]))
    assert statuses(outcomes) == ["delivered", "retry"]
    assert (outcomes[1].counts_as_attempt, outcomes[1].retry_after) == (False, 0.3)
    assert len(vendor.requests) == 1


def test_uploads_carry_at_most_max_records_per_request_and_never_split_an_order(destination_for):
    events = [person(1), person(2), person(3), order("ORD-1", "p-1"), order("ORD-2", "p-2", "p-3", "p-4"), order("ORD-3", "p-5")]
    with FakeCustobar() as vendor:
        dest = destination_for(vendor.base_url, max_records_per_request=2)
        outcomes = dest.send(prepare(dest, events))
    assert statuses(outcomes) == ["delivered"] * 6
    sizes = [(r.path, len(next(iter(r.json().values())))) for r in vendor.requests]
    assert sizes == [
        ("/api/customers/upload/", 2),
        ("/api/customers/upload/", 1),
        ("/api/sales/upload/", 1),
        ("/api/sales/upload/", 3),
        ("/api/sales/upload/", 1),
    ]


def test_traits_with_nowhere_to_go_are_counted_and_logged_by_name_only(destination_for, caplog):
    with FakeCustobar() as vendor:
        dest = destination_for(vendor.base_url)
        with caplog.at_level(logging.INFO, logger="destinations.custobar"):
            outcomes = dest.send(prepare(dest, [person(1, shoeSize=42, plan="gold-secret"), person(2, plan="basic")]))
    assert statuses(outcomes) == ["delivered", "delivered"]
    assert [dest.tally(p.payload) for p in prepare(dest, [person(1, shoeSize=42, plan="x"), person(2)])] == [
        {"left_out_traits": 2}, {}]
    assert "3 trait(s) left out" in caplog.text and "plan, shoeSize" in caplog.text
    assert "gold-secret" not in caplog.text
    assert vendor.accepted["customers"][0] == {"external_id": "user-1", "email": "u1@example.com"}


def test_the_destination_declares_custobar_s_batch_and_rate_defaults():
    assert CustobarDestination.handles == {"identify", "track", "delete"}
    assert (CustobarDestination.default_batch_size, CustobarDestination.max_batch_size) == (100, 500)
    assert CustobarDestination.default_rate_limit == "180/minute"
    assert CustobarDestination.display_name == "Custobar"


THREE_IDENTIFIES = {
    "name_in_the_middle": ([{"email": "old@example.com"}, {"email": "mid@example.com", "firstName": "Mid"},
                            {"email": "new@example.com"}], "Mid"),
    "name_first_and_last": ([{"email": "old@example.com", "firstName": "Old"}, {"email": "mid@example.com"},
                             {"email": "new@example.com", "firstName": "New"}], "New"),
}


@pytest.mark.parametrize("traits, name", THREE_IDENTIFIES.values(), ids=THREE_IDENTIFIES)
def test_a_customer_identified_three_times_in_a_batch_is_one_record_with_the_newest_values(destination_for, traits, name):
    events = [event("identify", userId="user-7", messageId=f"m-{n}", traits=t) for n, t in enumerate(traits)]
    with FakeCustobar() as vendor:
        dest = destination_for(vendor.base_url)
        outcomes = dest.send(prepare(dest, events))
    assert statuses(outcomes) == ["delivered"] * 3
    assert [r.json() for r in vendor.requests] == [
        {"customers": [{"external_id": "user-7", "email": "new@example.com", "first_name": name}]}]
    assert vendor.customers == {"user-7": {"external_id": "user-7", "email": "new@example.com", "first_name": name}}


def test_list_changes_of_several_identifies_compose_in_the_order_received(destination_for):
    events = [
        event("identify", messageId="m-1", traits={"tags": {"add": ["vip", "new"]}}),
        event("identify", messageId="m-2", traits={"tags": {"remove": ["new"]}, "mailing_lists": ["news"]}),
        event("identify", messageId="m-3", traits={"mailing_lists": {"add": ["offers"]}, "tags": {"add": ["gold"]}}),
    ]
    with FakeCustobar() as vendor:
        vendor.customers["user-1"] = {"external_id": "user-1", "tags": ["new", "old"], "mailing_lists": ["gone"]}
        dest = destination_for(vendor.base_url)
        outcomes = dest.send(prepare(dest, events))
    assert statuses(outcomes) == ["delivered"] * 3
    assert [r.json() for r in vendor.requests] == [{"customers": [{
        "external_id": "user-1", "tags.add": ["vip", "gold"], "tags.remove": ["new"], "mailing_lists": ["news", "offers"],
    }]}]
    assert vendor.customers["user-1"] == {"external_id": "user-1", "tags": ["old", "vip", "gold"], "mailing_lists": ["news", "offers"]}


def test_events_about_a_customer_follow_its_identify_and_a_delete_follows_its_events(destination_for):
    events = [
        event("track", userId="user-2", event="Product Added", messageId="m-a", properties={"product_id": "p-1"}),
        event("identify", userId="user-2", messageId="m-i", traits={"email": "two@example.com"}),
        order("ORD-9", "p-1"),  # user-1
        {"type": "delete", "userId": "user-1", "messageId": "m-del", "timestamp": TS, "context": None, "integrations": []},
        event("identify", userId="user-1", messageId="m-back", traits={"email": "back@example.com"}),
    ]
    with FakeCustobar() as vendor:
        dest = destination_for(vendor.base_url)
        outcomes = dest.send(prepare(dest, events))
    assert statuses(outcomes) == ["delivered"] * 5
    assert [(r.path, r.json()) for r in vendor.requests] == [
        ("/api/customers/upload/", {"customers": [{"external_id": "user-2", "email": "two@example.com"}]}),
        ("/api/sales/upload/", {"sales": vendor.accepted["sales"]}),
        ("/api/events/", {"events": [{"type": "BASKET_ADD", "date": TS, "customer_id": "user-2", "product_id": "p-1"}]}),
        ("/api/customers/upload/", {"customers": [{"external_id": "user-1", "is_deleted": True}]}),
        ("/api/customers/upload/", {"customers": [{"external_id": "user-1", "email": "back@example.com"}]}),
    ]


def test_an_identify_naming_the_customer_by_email_only_merges_with_its_user_id_record(destination_for):
    """The same customer as userId + email and, in a later identify, by the email alone: one record,
    the later values winning; two records of one customer in an upload have no documented order."""
    events = [
        event("identify", userId="user-7", messageId="m-1", traits={"email": "ada@example.com", "firstName": "Old"}),
        event("identify", userId=None, anonymousId="anon-1", messageId="m-2", traits={"email": "ada@example.com", "firstName": "New"}),
        event("identify", userId=None, anonymousId="anon-2", messageId="m-3", traits={"email": "bob@example.com", "firstName": "Bob"}),
        event("identify", userId="user-8", messageId="m-4", traits={"email": "bob@example.com", "lastName": "Builder"}),
    ]
    with FakeCustobar() as vendor:
        dest = destination_for(vendor.base_url)
        outcomes = dest.send(prepare(dest, events))
    assert statuses(outcomes) == ["delivered"] * 4
    assert [r.json() for r in vendor.requests] == [{"customers": [
        {"external_id": "user-7", "email": "ada@example.com", "first_name": "New"},
        {"email": "bob@example.com", "first_name": "Bob", "external_id": "user-8", "last_name": "Builder"},
    ]}]


def test_customers_with_different_user_ids_are_never_merged_through_a_shared_email(destination_for):
    events = [
        event("identify", userId="user-7", messageId="m-1", traits={"email": "shared@example.com", "firstName": "Ada"}),
        event("identify", userId="user-8", messageId="m-2", traits={"email": "shared@example.com", "firstName": "Bob"}),
    ]
    with FakeCustobar() as vendor:
        dest = destination_for(vendor.base_url)
        dest.send(prepare(dest, events))
    assert [r.json() for r in vendor.requests] == [{"customers": [
        {"external_id": "user-7", "email": "shared@example.com", "first_name": "Ada"},
        {"external_id": "user-8", "email": "shared@example.com", "first_name": "Bob"},
    ]}]


def test_numeric_traits_for_custobar_text_fields_are_sent_as_text(destination_for):
    identify = person(1, houseNumber=3, address={"postalCode": 33100, "city": "Tampere"}, shopId=7, vatNumber=12345678)
    with FakeCustobar() as vendor:
        dest = destination_for(vendor.base_url)
        outcomes = dest.send(prepare(dest, [identify]))
    assert statuses(outcomes) == ["delivered"]
    assert vendor.accepted["customers"] == [{
        "external_id": "user-1", "email": "u1@example.com", "house_number": "3", "city": "Tampere",
        "zip_code": "33100", "shop_id": "7", "vat_number": "12345678",
    }]


def test_segments_name_trait_fills_first_and_last_name_instead_of_an_undefined_company_field(destination_for):
    events = [
        person(1, name="Ada King Lovelace"),
        person(2, firstName="Grace", name="Grace Hopper"),
        person(3, firstName="Alan", lastName="Turing", name="Alan Turing"),
    ]
    with FakeCustobar(refuse=refuse_undefined_field) as vendor:
        dest = destination_for(vendor.base_url, company_prefix="acme")
        prepared = prepare(dest, events)
        outcomes = dest.send(prepared)
    assert statuses(outcomes) == ["delivered"] * 3
    assert vendor.accepted["customers"] == [
        {"external_id": "user-1", "email": "u1@example.com", "first_name": "Ada", "last_name": "King Lovelace"},
        {"external_id": "user-2", "email": "u2@example.com", "first_name": "Grace", "last_name": "Hopper"},
        {"external_id": "user-3", "email": "u3@example.com", "first_name": "Alan", "last_name": "Turing"},
    ]
    assert [item.payload.left_out for item in prepared] == [(), (), ()]
