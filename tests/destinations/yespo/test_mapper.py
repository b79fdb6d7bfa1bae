"""Segment event -> the exact Yespo body, as tables."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from destinations.yespo.contacts import contact_field_names
from destinations.yespo.mapper import Kind, YespoCall, map_event
from destinations.yespo.settings import YespoSettings
from router.errors import RejectedEvent, SkippedEvent

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
TS = "2026-11-23T10:00:00.000Z"


def settings(**overrides: Any) -> dict[str, Any]:
    return YespoSettings().load({"api_key": "k", **overrides})


def track(name: str = "Signed Up", properties: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    event = {
        "type": "track",
        "messageId": "m1",
        "timestamp": TS,
        "userId": "u1",
        "event": name,
        "context": {"traits": {"email": "ann@example.com"}},
        "properties": properties or {},
    }
    event.update(extra)
    return event


def identify(traits: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "identify", "messageId": "m2", "timestamp": TS, "userId": "u1", "traits": traits, **extra}


# The seed example of yespo-past-events.txt (its first event), field for field.
SEED_PARAMS_V2 = [
    {"name": "email", "value": "John@yourcompany.com"},
    {"name": "externalOrderId", "value": "9239234234234"},
    {"name": "externalCustomerId", "value": "d8b6a037-4b6d-11eb-a2f0-0050569b2dc99902"},
    {"name": "totalCost", "value": "258.0"},
    {"name": "status", "value": "INITIALIZED"},
    {"name": "date", "value": "2020-05-14T10:11:00"},
    {"name": "currency", "value": "UAH"},
    {
        "name": "items",
        "value": [
            {
                "externalItemId": "200600",
                "name": "Super Device",
                "category": "devices",
                "quantity": 1,
                "cost": 990,
                "url": "http://example.com/item/200600",
                "imageUrl": "http://example.com/item/200600/image.png",
                "description": "High quality",
            }
        ],
    },
]
SEED_ITEMS_V1 = (
    '[{"externalItemId":"200600","name":"Super Device","category":"devices","quantity":1,"cost":990,'
    '"url":"http://example.com/item/200600","imageUrl":"http://example.com/item/200600/image.png",'
    '"description":"High quality"}]'
)
SEED_ORDER = {
    "type": "track",
    "event": "Order Completed",
    "messageId": "m3",
    "timestamp": "2020-05-14T10:11:00.000Z",
    "userId": "d8b6a037-4b6d-11eb-a2f0-0050569b2dc99902",
    "context": {"traits": {"email": "John@yourcompany.com"}},
    "properties": {
        "order_id": "9239234234234",
        "total": 258.0,
        "currency": "UAH",
        "products": [
            {
                "product_id": "200600",
                "name": "Super Device",
                "category": "devices",
                "quantity": 1,
                "price": 990,
                "url": "http://example.com/item/200600",
                "image_url": "http://example.com/item/200600/image.png",
                "description": "High quality",
            }
        ],
    },
}


@pytest.mark.parametrize(
    "event, config, expected",
    [
        pytest.param(
            track("Signed Up", {"plan": "pro", "seats": 3, "trial": True, "coupon": None}),
            {},
            {
                "eventTypeKey": "Signed Up",
                "keyValue": "ann@example.com",
                "params": [
                    {"name": "email", "value": "ann@example.com"},
                    {"name": "externalCustomerId", "value": "u1"},
                    {"name": "plan", "value": "pro"},
                    {"name": "seats", "value": "3"},
                    {"name": "trial", "value": "true"},
                ],
            },
            id="scalars-become-strings-and-nulls-are-left-out",
        ),
        pytest.param(
            track("Cart Viewed", {"cart": {"id": "c1", "skus": ["a", "b"]}}),
            {},
            {
                "eventTypeKey": "Cart Viewed",
                "keyValue": "ann@example.com",
                "params": [
                    {"name": "email", "value": "ann@example.com"},
                    {"name": "externalCustomerId", "value": "u1"},
                    {"name": "cart", "value": '{"id":"c1","skus":["a","b"]}'},
                ],
            },
            id="v1-escapes-nested-json-into-a-string",
        ),
        pytest.param(
            track("Cart Viewed", {"cart": {"id": "c1", "skus": ["a", "b"]}}),
            {"api_version": "v2"},
            {
                "eventTypeKey": "Cart Viewed",
                "keyValue": "ann@example.com",
                "params": [
                    {"name": "email", "value": "ann@example.com"},
                    {"name": "externalCustomerId", "value": "u1"},
                    {"name": "cart", "value": {"id": "c1", "skus": ["a", "b"]}},
                ],
            },
            id="v2-sends-nested-json-as-is",
        ),
        pytest.param(
            track("Trial Started", {"phone": "+380501234567"}, context={}),
            {},
            {
                "eventTypeKey": "Trial Started",
                "keyValue": "u1",
                "params": [
                    {"name": "phone", "value": "+380501234567"},
                    {"name": "externalCustomerId", "value": "u1"},
                ],
            },
            id="key-value-falls-back-to-user-id-and-phone-comes-from-properties",
        ),
        pytest.param(
            track("Trial Started"),
            {"key_value_from": ["userId", "email"]},
            {
                "eventTypeKey": "Trial Started",
                "keyValue": "u1",
                "params": [
                    {"name": "email", "value": "ann@example.com"},
                    {"name": "externalCustomerId", "value": "u1"},
                ],
            },
            id="key-value-source-order-is-a-setting",
        ),
        pytest.param(
            track("What's new? Yes/No, <really>!"),
            {},
            {
                "eventTypeKey": "What_s new_ Yes_No_ _really__",
                "keyValue": "ann@example.com",
                "params": [
                    {"name": "email", "value": "ann@example.com"},
                    {"name": "externalCustomerId", "value": "u1"},
                ],
            },
            id="forbidden-characters-are-replaced",
        ),
        pytest.param(
            track("a|b"),
            {"forbidden_char_replacement": "-"},
            {
                "eventTypeKey": "a-b",
                "keyValue": "ann@example.com",
                "params": [
                    {"name": "email", "value": "ann@example.com"},
                    {"name": "externalCustomerId", "value": "u1"},
                ],
            },
            id="replacement-character-is-a-setting",
        ),
    ],
)
def test_track_becomes_an_event_body(event: dict[str, Any], config: dict[str, Any], expected: dict[str, Any]) -> None:
    assert map_event(event, settings(**config), NOW) == YespoCall(Kind.EVENT, expected)


def test_order_completed_has_the_params_of_the_seed_order_created_example_in_v2() -> None:
    call = map_event(SEED_ORDER, settings(api_version="v2"), NOW)
    assert call == YespoCall(
        Kind.EVENT, {"eventTypeKey": "orderCreated", "keyValue": "John@yourcompany.com", "params": SEED_PARAMS_V2}
    )


def test_order_completed_in_v1_carries_the_items_as_an_array_like_yespos_example() -> None:
    call = map_event(SEED_ORDER, settings(), NOW)
    assert call.body["params"] == SEED_PARAMS_V2


def test_order_completed_in_v1_escapes_the_items_into_a_string_when_set_to() -> None:
    call = map_event(SEED_ORDER, settings(order_items="string"), NOW)
    expected = [p if p["name"] != "items" else {"name": "items", "value": SEED_ITEMS_V1} for p in SEED_PARAMS_V2]
    assert call.body["params"] == expected


def test_old_order_becomes_a_past_event_shaped_like_the_seed() -> None:
    call = map_event(SEED_ORDER, settings(api_version="v2", past_events_after_days=30), NOW)
    assert call == YespoCall(
        Kind.PAST_EVENT,
        {
            "eventTypeKey": "orderCreated",
            "keyValue": "John@yourcompany.com",
            "params": SEED_PARAMS_V2,
            "occurred": "2020-05-14T10:11",
        },
    )


@pytest.mark.parametrize(
    "timestamp, kind",
    [
        ("2026-10-24T11:59:00Z", Kind.PAST_EVENT),  # 30 days and a minute ago
        ("2026-10-24T12:01:00+00:00", Kind.EVENT),  # a minute short of 30 days
        ("2026-10-24T13:01:00+01:00", Kind.EVENT),  # the same instant, another offset
    ],
)
def test_track_older_than_the_setting_goes_to_past_events(timestamp: str, kind: Kind) -> None:
    assert map_event(track(timestamp=timestamp), settings(past_events_after_days=30), NOW).kind is kind


def test_past_event_occurred_is_the_utc_minute_of_the_timestamp() -> None:
    call = map_event(track(timestamp="2024-03-22T16:30:59.999+02:00"), settings(past_events_after_days=1), NOW)
    assert call.body["occurred"] == "2024-03-22T14:30"


def test_order_completed_with_the_orders_api_setting_becomes_an_orders_entry() -> None:
    event = {
        **SEED_ORDER,
        "context": {"traits": {"email": "John@yourcompany.com", "firstName": "John", "lastName": "Doe"}},
        "properties": {
            **SEED_ORDER["properties"],
            "status": "delivered",
            "shipping": "12.5",
            "tax": 3,
            "coupon": "SPRING",
            "affiliation": {"store": "kyiv"},
        },
    }
    call = map_event(event, settings(orders_via="orders_api"), NOW)
    assert call == YespoCall(
        Kind.ORDER,
        {
            "email": "John@yourcompany.com",
            "externalOrderId": "9239234234234",
            "externalCustomerId": "d8b6a037-4b6d-11eb-a2f0-0050569b2dc99902",
            "totalCost": 258.0,
            "status": "DELIVERED",
            "currency": "UAH",
            "items": SEED_PARAMS_V2[-1]["value"],
            "date": "2020-05-14T10:11:00Z",
            "firstName": "John",
            "lastName": "Doe",
            "shipping": 12.5,
            "taxes": 3,
            "additionalInfo": {"coupon": "SPRING", "affiliation": '{"store":"kyiv"}'},
        },
    )


def test_order_extra_properties_follow_the_order_params_and_missing_quantity_counts_as_one() -> None:
    event = track(
        "Order Completed",
        {"order_id": 7, "revenue": "19.90", "currency": "EUR", "coupon": "X", "products": [{"sku": 55, "price": 19.9}]},
    )
    assert map_event(event, settings(), NOW).body["params"] == [
        {"name": "email", "value": "ann@example.com"},
        {"name": "externalOrderId", "value": "7"},
        {"name": "externalCustomerId", "value": "u1"},
        {"name": "totalCost", "value": "19.9"},
        {"name": "status", "value": "INITIALIZED"},
        {"name": "date", "value": "2026-11-23T10:00:00"},
        {"name": "currency", "value": "EUR"},
        {"name": "items", "value": [{"externalItemId": "55", "quantity": 1, "cost": 19.9}]},
        {"name": "coupon", "value": "X"},
    ]


def test_order_params_have_the_types_of_yespos_example_whole_quantities_and_currency_in_capitals() -> None:
    event = track(
        "Order Completed",
        {"order_id": "o9", "total": "30", "currency": " uah", "products": [
            {"sku": "a", "price": "10", "quantity": "2"}, {"sku": "b", "price": 10, "quantity": 1.0},
            {"sku": "c", "price": 2.5, "quantity": 0.5}]},
    )
    params = {p["name"]: p["value"] for p in map_event(event, settings(), NOW).body["params"]}
    assert params["currency"] == "UAH"
    assert params["totalCost"] == "30.0"
    assert params["items"] == [
        {"externalItemId": "a", "quantity": 2, "cost": 10.0},
        {"externalItemId": "b", "quantity": 1, "cost": 10},
        {"externalItemId": "c", "quantity": 0.5, "cost": 2.5},
    ]
    assert [type(i["quantity"]) for i in params["items"]] == [int, int, float]


def test_order_event_names_and_the_event_key_are_settings() -> None:
    event = track("Purchase", {"order_id": "o1", "total": 5, "currency": "USD"})
    call = map_event(event, settings(order_events=["Purchase"], order_event_key="purchaseMade"), NOW)
    assert call.body["eventTypeKey"] == "purchaseMade"
    assert {"name": "externalOrderId", "value": "o1"} in call.body["params"]


def test_order_without_currency_uses_default_currency() -> None:
    event = track("Order Completed", {"order_id": "o1", "total": 5})
    call = map_event(event, settings(default_currency="USD"), NOW)
    assert {"name": "currency", "value": "USD"} in call.body["params"]


@pytest.mark.parametrize(
    "event, config, reason",
    [
        (track("x" * 101), {}, "eventTypeKey is 101 characters; Yespo allows at most 100"),
        (track("a/b"), {"forbidden_char_replacement": "reject"}, "event name 'a/b' has characters Yespo forbids in eventTypeKey: /"),
        (track("???"), {"forbidden_char_replacement": ""}, "event name is empty once the characters Yespo forbids are removed"),
        (track(""), {}, "track event has no name"),
        (track(userId=None, context={}), {}, "no email or userId for Yespo's keyValue"),
        (track(context={"traits": {"email": "x" * 290 + "@example.com"}}), {}, "keyValue is 302 characters; Yespo allows at most 300"),
        (track(context={"traits": {"email": "o'neil@example.com"}}), {}, "keyValue (email) has characters Yespo forbids: '"),
        (track("Big", {"blob": "x" * 21000}), {}, "event body is 21175 bytes; Yespo accepts at most 20480"),
        (track("Order Completed", {"total": 5, "currency": "USD"}), {}, "order has no properties.order_id"),
        (track("Order Completed", {"order_id": "o1", "currency": "USD"}), {}, "order has no properties.total, revenue or value"),
        (track("Order Completed", {"order_id": "o1", "total": 5}), {}, "order has no properties.currency and the destination has no default_currency"),
        (track("Order Completed", {"order_id": "o1", "total": "lots", "currency": "USD"}), {}, "order total is not a number: 'lots'"),
        (track("Order Completed", {"order_id": "o1", "total": 5, "currency": "USD", "products": [{"name": "x"}]}), {}, "products[0] has no product_id or sku"),
        (track(timestamp="last tuesday"), {"past_events_after_days": 1}, "timestamp 'last tuesday' is not ISO 8601"),
    ],
)
def test_track_that_yespo_would_refuse_is_rejected_with_the_reason(event: dict[str, Any], config: dict[str, Any], reason: str) -> None:
    with pytest.raises(RejectedEvent) as exc:
        map_event(event, settings(**config), NOW)
    assert exc.value.reason == reason


def test_event_body_of_exactly_20_kb_is_sent_and_one_byte_more_is_rejected() -> None:
    overhead = 175  # the body around the blob below, in bytes
    assert map_event(track("Big", {"blob": "x" * (20480 - overhead)}), settings(), NOW).kind is Kind.EVENT
    with pytest.raises(RejectedEvent, match="event body is 20481 bytes"):
        map_event(track("Big", {"blob": "x" * (20481 - overhead)}), settings(), NOW)


def test_past_event_over_20_kb_is_rejected_with_its_size() -> None:
    with pytest.raises(RejectedEvent, match=r"event body is 21\d\d\d bytes"):
        map_event(track("Big", {"blob": "x" * 21000}, timestamp="2020-01-01T00:00:00Z"), settings(past_events_after_days=1), NOW)


@pytest.mark.parametrize(
    "event, config, expected",
    [
        pytest.param(
            identify(
                {
                    "email": "ann@example.com",
                    "phone": "380942583691",
                    "first_name": "Ann",
                    "lastName": "Lee",
                    "address": {"city": "London", "state": "West", "street": "First str. 1", "postalCode": 12345},
                    "plan": "pro",
                    "score": 7,
                    "timezone": "Europe/Kyiv",
                },
                context={"locale": "uk-UA"},
            ),
            {"contact_fields": {"plan": 111, "score": 222, "missing": 333}},
            {
                "channels": [{"type": "email", "value": "ann@example.com"}, {"type": "sms", "value": "380942583691"}],
                "firstName": "Ann",
                "lastName": "Lee",
                "externalCustomerId": "u1",
                "languageCode": "uk",
                "timeZone": "Europe/Kyiv",
                "address": {"region": "West", "town": "London", "address": "First str. 1", "postcode": "12345"},
                "fields": [{"id": 111, "value": "pro"}, {"id": 222, "value": "7"}],
            },
            id="everything-camel-or-snake-case",
        ),
        pytest.param(
            identify({"name": "Ann Marie Lee"}, userId=None, context={"traits": {"email": "ann@example.com"}}),
            {},
            {"channels": [{"type": "email", "value": "ann@example.com"}], "firstName": "Ann", "lastName": "Marie Lee"},
            id="name-split-and-email-from-context-traits",
        ),
    ],
)
def test_identify_becomes_a_contact(event: dict[str, Any], config: dict[str, Any], expected: dict[str, Any]) -> None:
    assert map_event(event, settings(**config), NOW) == YespoCall(Kind.CONTACT, expected)


def test_identify_in_bulk_mode_groups_by_the_fields_the_contact_carries() -> None:
    event = identify({"email": "ann@example.com", "firstName": "Ann", "address": {"city": "Kyiv"}, "plan": "pro"})
    call = map_event(event, settings(identify_via="contacts", contact_fields={"plan": 111}), NOW)
    assert bulk_group(call) == (("email", "firstName", "externalCustomerId", "town"), (111,))


@pytest.mark.parametrize(
    "event, config, reason",
    [
        (identify({"firstName": "Ann"}), {}, "identify has no email or phone; a Yespo contact needs at least one channel"),
        (
            identify({"email": "ann@example.com"}, userId=None, anonymousId="a1"),
            {"identify_via": "contacts"},
            "the bulk upsert finds contacts by userId or dedupe_on (externalCustomerId); this identify has neither",
        ),
        (
            identify({"phone": "380942583691"}, userId=None, anonymousId="a1"),
            {"identify_via": "contacts", "dedupe_on": "email"},
            "the bulk upsert finds contacts by userId or dedupe_on (email); this identify has neither",
        ),
    ],
)
def test_identify_yespo_cannot_store_is_rejected(event: dict[str, Any], config: dict[str, Any], reason: str) -> None:
    with pytest.raises(RejectedEvent) as exc:
        map_event(event, settings(**config), NOW)
    assert exc.value.reason == reason


def test_identify_in_bulk_mode_without_user_id_is_fine_when_dedupe_on_has_the_channel() -> None:
    event = identify({"phone": "380942583691"}, userId=None, anonymousId="a1")
    call = map_event(event, settings(identify_via="contacts", dedupe_on="email_or_sms"), NOW)
    assert bulk_group(call) == (("sms",), ())


@pytest.mark.parametrize("context", [None, [], {}])
def test_delete_erases_by_external_customer_id(context: Any) -> None:
    event = {"type": "delete", "userId": "u1", "messageId": "d1", "timestamp": TS, "context": context, "integrations": context}
    assert map_event(event, settings(), NOW) == YespoCall(Kind.DELETE, {"externalCustomerId": "u1"})


def test_delete_without_user_id_is_rejected() -> None:
    with pytest.raises(RejectedEvent, match="delete has no userId"):
        map_event({"type": "delete", "messageId": "d1", "timestamp": TS, "context": None}, settings(), NOW)


@pytest.mark.parametrize("kind", ["page", "screen", "group", "alias"])
def test_other_event_types_are_skipped(kind: str) -> None:
    with pytest.raises(SkippedEvent, match=f"Yespo does not take {kind} events"):
        map_event({"type": kind, "userId": "u1", "timestamp": TS}, settings(), NOW)


def test_replacement_with_a_forbidden_character_is_a_config_error() -> None:
    from marshmallow import ValidationError

    with pytest.raises(ValidationError, match="forbidden_char_replacement"):
        settings(forbidden_char_replacement="/")


def bulk_group(call: YespoCall) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """What a bulk upsert groups this contact by: the fields it carries and its custom field ids."""
    return contact_field_names(call.body), tuple(f["id"] for f in call.body.get("fields", ()))
