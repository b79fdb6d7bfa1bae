"""Segment event -> the exact Sticky Street payload (pure mapping, no I/O)."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from destinations.stickystreet.mapper import map_event, ymd
from router.errors import RejectedEvent, SkippedEvent
from tests.destinations.stickystreet.conftest import settings

BASE = {"messageId": "m-1", "timestamp": "2026-11-23T10:00:00.000Z", "receivedAt": "2026-11-23T10:00:01.000Z"}


def identify(traits: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**BASE, "type": "identify", "userId": "u-1", "traits": traits, **extra}


def order(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**BASE, "type": "track", "userId": "u-1", "event": "Order Completed", "properties": properties, **extra}


ACTIVITY = {"record_activity": True, "campaign_id": 4242}


@pytest.mark.parametrize(
    "event, overrides, customer",
    [
        pytest.param(
            identify({"firstName": "Jane", "lastName": "Doe", "email": "jane@example.com", "phone": "555-5555"}),
            {},
            {"code": "u-1", "first_name": "Jane", "last_name": "Doe", "email": "jane@example.com", "phone": "555-5555"},
            id="camelCase names",
        ),
        pytest.param(
            identify({"first_name": "Jim", "last_name": "McDoe"}),
            {},
            {"code": "u-1", "first_name": "Jim", "last_name": "McDoe"},
            id="snake_case names",
        ),
        pytest.param(
            identify({"name": "Ada King Lovelace"}),
            {},
            {"code": "u-1", "first_name": "Ada", "last_name": "King Lovelace"},
            id="name split in two",
        ),
        pytest.param(
            identify({"name": "Ada Lovelace", "firstName": "Augusta"}),
            {},
            {"code": "u-1", "first_name": "Augusta", "last_name": "Lovelace"},
            id="name fills only the missing half",
        ),
        pytest.param(
            identify({"address": {"street": "1 Main St", "city": "Springfield", "state": "IL",
                                  "postalCode": "62701", "country": "US"}}),
            {},
            {"code": "u-1", "street1": "1 Main St", "city": "Springfield", "state": "IL",
             "postal_code": "62701", "country": "US"},
            id="Segment address object",
        ),
        pytest.param(
            identify({"street1": "2 Side St", "street2": "Apt 3", "city": "Oslo", "postal_code": "0150"}),
            {},
            {"code": "u-1", "street1": "2 Side St", "street2": "Apt 3", "city": "Oslo", "postal_code": "0150"},
            id="flat address traits",
        ),
        pytest.param(
            identify({"email": "own@example.com"}, context={"traits": {"email": "ctx@example.com", "phone": "555"}}),
            {},
            {"code": "u-1", "email": "own@example.com", "phone": "555"},
            id="identify traits win over context traits",
        ),
        pytest.param(
            identify({"cardNumber": 11223344, "birthday": "1970-07-14T00:00:00.000Z"}),
            {},
            {"code": "u-1", "card_number": "11223344", "custom_date": "1970-07-14"},
            id="card number trait and birthday as custom_date",
        ),
        pytest.param(
            identify({"card_number": "999"}),
            {"card_number": "user_id"},
            {"code": "u-1", "card_number": "u-1"},
            id="card number is the user id when configured",
        ),
        pytest.param(
            identify({"email": "a@example.com"}),
            {"auto_add": 25},
            {"code": "u-1", "email": "a@example.com", "auto_add": "25"},
            id="auto_add from the setting",
        ),
        pytest.param(
            identify({"auto_add": 50}),
            {"auto_add": 25},
            {"code": "u-1", "auto_add": "50"},
            id="auto_add trait wins over the setting",
        ),
        pytest.param(
            identify({"favoriteStore": "Downtown", "tier": 2, "empty": ""}),
            {"custom_fields": {"favoriteStore": "custom_field_1", "tier": "custom_field_12", "empty": "custom_field_3"}},
            {"code": "u-1", "custom_field_1": "Downtown", "custom_field_12": "2"},
            id="custom fields from the trait map, empty ones left out",
        ),
        pytest.param(
            identify({"phone": 5555555.0, "postal_code": 2150}),
            {},
            {"code": "u-1", "phone": "5555555", "postal_code": "2150"},
            id="numbers as written",
        ),
        pytest.param(
            identify({"email": None, "phone": ""}),
            {},
            {"code": "u-1"},
            id="null and empty traits are not columns",
        ),
    ],
)
def test_identify_becomes_a_customer_row_with_only_the_columns_it_has(event, overrides, customer):
    assert map_event(event, settings(**overrides)) == {"type": "customers_batch", "customer": customer}


@pytest.mark.parametrize(
    "value, expected",
    [
        ("1970-07-14", "1970-07-14"),
        ("1970-7-4", "1970-07-04"),
        ("1970/07/14", "1970-07-14"),
        ("1970-07-14T23:30:00.000Z", "1970-07-14"),
        ("1970-07-14T00:00:00+02:00", "1970-07-14"),
        ("1970-07-14 08:15", "1970-07-14"),
        ("  2000-02-29  ", "2000-02-29"),
    ],
)
def test_custom_date_accepts_iso_dates_and_datetimes_keeping_the_written_day(value, expected):
    assert ymd(value) == expected


@pytest.mark.parametrize(
    "value, why",
    [
        ("04-03-2010", "can't tell day from month"),
        ("04/03/2010", "can't tell day from month"),
        ("04-06-05", "can't tell day from month"),
        ("14.07.1970", "can't tell day from month"),
        ("July 14, 1970", "can't tell day from month"),
        ("19700714", "can't tell day from month"),
        ("1970-07/14", "can't tell day from month"),
        (19700714, "can't tell day from month"),
        ("2001-02-29", "not a real date"),
        ("1970-13-01", "not a real date"),
    ],
)
def test_custom_date_in_another_format_rejects_the_customer_saying_why(value, why):
    with pytest.raises(RejectedEvent) as exc:
        map_event(identify({"birthday": value}), settings())
    assert why in exc.value.reason
    assert repr(value) in exc.value.reason


@pytest.mark.parametrize(
    "traits, overrides, why",
    [
        ({"first_name": "Jane\nDoe"}, {}, "first_name contains a line break"),
        ({"city": "Oslo\r"}, {}, "city contains a line break"),
        ({"note": "a\u2028b"}, {"custom_fields": {"note": "custom_field_1"}}, "custom_field_1 contains a line break"),
        ({"first_name": "a|b", "last_name": "c,d", "city": "e\tf"}, {}, "pipe, a comma and a tab"),
        ({"tags": ["vip"]}, {"custom_fields": {"tags": "custom_field_2"}}, "custom_field_2 is a list"),
        ({"address": {"city": {"name": "Oslo"}}}, {}, "city is a dict"),
        ({"email": True}, {}, "email is a bool"),
    ],
)
def test_identify_whose_values_cannot_fit_a_line_is_rejected_with_the_reason(traits, overrides, why):
    with pytest.raises(RejectedEvent) as exc:
        map_event(identify(traits), settings(**overrides))
    assert why in exc.value.reason


def test_identify_without_user_id_is_rejected_because_code_is_the_key():
    event = {**BASE, "type": "identify", "anonymousId": "anon-1", "traits": {"email": "a@example.com"}}
    with pytest.raises(RejectedEvent, match="no userId"):
        map_event(event, settings())


@pytest.mark.parametrize(
    "event, overrides, form",
    [
        pytest.param(
            order({"order_id": "o-1", "revenue": 19.99, "total": 25}),
            {},
            {"type": "record_activity", "code": "u-1", "campaign_id": "4242", "amount": "19.99", "authorization": "o-1"},
            id="revenue first, in dollars",
        ),
        pytest.param(
            order({"orderId": "o-2", "total": "25"}),
            {},
            {"type": "record_activity", "code": "u-1", "campaign_id": "4242", "amount": "25.00", "authorization": "o-2"},
            id="total when there is no revenue",
        ),
        pytest.param(
            order({"revenue": 10.005}),
            {},
            {"type": "record_activity", "code": "u-1", "campaign_id": "4242", "amount": "10.01"},
            id="dollars rounded half up to cents, no order id",
        ),
        pytest.param(
            order({"revenue": 19.99, "total": 30}),
            {"amount_from": ["total", "revenue"]},
            {"type": "record_activity", "code": "u-1", "campaign_id": "4242", "amount": "30.00"},
            id="configured amount order",
        ),
        pytest.param(
            order({"revenue": 19.99}),
            {"amount_unit": "points"},
            {"type": "record_activity", "code": "u-1", "campaign_id": "4242", "amount": "19"},
            id="points rounded down",
        ),
        pytest.param(
            order({"revenue": 19.99}),
            {"amount_unit": "points", "points_per_dollar": 10},
            {"type": "record_activity", "code": "u-1", "campaign_id": "4242", "amount": "199"},
            id="points per dollar",
        ),
        pytest.param(
            # Decimal("1e2") prints as "1E+2": the form field must carry plain digits
            order({"revenue": "1e2"}),
            {"amount_unit": "points"},
            {"type": "record_activity", "code": "u-1", "campaign_id": "4242", "amount": "100"},
            id="points in plain digits",
        ),
        pytest.param(
            {**order({"value": 5}), "event": "Purchase"},
            {"activity_event": "Purchase", "amount_from": ["value"]},
            {"type": "record_activity", "code": "u-1", "campaign_id": "4242", "amount": "5.00"},
            id="configured event name",
        ),
    ],
)
def test_order_completed_becomes_record_activity_when_turned_on(event, overrides, form):
    assert map_event(event, settings(**ACTIVITY, **overrides)) == form


@pytest.mark.parametrize(
    "event, overrides, why",
    [
        (order({"revenue": 10}), {}, "record_activity is off"),
        ({**order({"revenue": 10}), "event": "Product Viewed"}, ACTIVITY, "only 'Order Completed'"),
    ],
)
def test_other_track_events_are_skipped_with_the_reason(event, overrides, why):
    with pytest.raises(SkippedEvent, match=why):
        map_event(event, settings(**overrides))


@pytest.mark.parametrize(
    "properties, why",
    [
        ({"order_id": "o-1"}, "no amount to record"),
        ({"revenue": "lots"}, "is not a number"),
        ({"revenue": True}, "is not a number"),
        ({"revenue": -5}, "refunds are not recorded"),
        # more digits than Decimal keeps: a clear reason, not "mapping failed: InvalidOperation"
        ({"revenue": 1e30}, "is too large"),
    ],
)
def test_order_without_a_usable_amount_is_rejected(properties, why):
    with pytest.raises(RejectedEvent, match=why):
        map_event(order(properties), settings(**ACTIVITY))


def test_order_without_user_id_is_rejected():
    event = order({"revenue": 1})
    del event["userId"]
    with pytest.raises(RejectedEvent, match="no userId"):
        map_event(event, settings(**ACTIVITY))


@pytest.mark.parametrize("context", [None, [], {}])
def test_delete_becomes_customer_delete_by_code(context):
    event = {**BASE, "type": "delete", "userId": "u-1", "context": context, "integrations": context}
    assert map_event(event, settings()) == {"type": "customer_delete", "code": "u-1"}


@pytest.mark.parametrize("kind", ["page", "screen", "group", "alias"])
def test_other_event_types_are_skipped(kind):
    with pytest.raises(SkippedEvent, match=f"no call for {kind}"):
        map_event({**BASE, "type": kind, "userId": "u-1"}, settings())


def test_mapping_leaves_the_event_alone_and_carries_no_credentials():
    event = identify({"email": "a@example.com", "address": {"city": "Oslo"}}, context={"traits": {"phone": "1"}})
    before = copy.deepcopy(event)
    payload = map_event(event, settings())
    assert event == before
    assert "1959caadac9b13dcb3" not in repr(payload)
