"""Segment event -> the exact Extole call."""
from __future__ import annotations

from typing import Any

import pytest

from destinations.extole.mapper import map_event
from destinations.extole.settings import ExtoleSettings
from router.errors import RejectedEvent, SkippedEvent

TS = "2026-11-23T10:00:00.000Z"
TIME = "2026-11-23T10:00:00+0000"


def settings(**over: Any) -> dict[str, Any]:
    return ExtoleSettings().load({"api_key": "k", **over})


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "messageId": "m-1", "timestamp": TS, "receivedAt": TS, "integrations": {}, **fields}


TRACK_CASES = [
    pytest.param(
        event(
            "track",
            event="conversion",
            userId="u-1",
            properties={
                "email": "ann@example.com",
                "first_name": "Ann",
                "last_name": "Lee",
                "partner_conversion_id": "A-1001",
                "cart_value": "99.99",
            },
        ),
        {
            "event_name": "conversion",
            "data": {
                "partner_user_id": "u-1",
                "email": "ann@example.com",
                "first_name": "Ann",
                "last_name": "Lee",
                "partner_conversion_id": "A-1001",
                "cart_value": "99.99",
                "event_time": TIME,
            },
        },
        id="conversion-with-extole-names",
    ),
    pytest.param(
        event(
            "track",
            event="conversion",
            userId="u-1",
            anonymousId="anon-9",
            context={"ip": "203.0.113.5", "traits": {"email": "ann@example.com", "firstName": "Ann", "lastName": "Lee"}},
            properties={"order_id": 1001, "revenue": 100, "total": 120.5, "currency": "EUR", "coupon": "SPRING"},
        ),
        {
            "event_name": "conversion",
            "data": {
                "partner_user_id": "u-1",
                "partner_anonymous_id": "anon-9",
                "extole_consumer_ip": "203.0.113.5",
                "email": "ann@example.com",
                "first_name": "Ann",
                "last_name": "Lee",
                "partner_conversion_id": "1001",
                "cart_value": "100.00",
                "event_time": TIME,
                "currency": "EUR",
                "coupon": "SPRING",
            },
        },
        id="segment-ecommerce-order-with-context-traits",
    ),
    pytest.param(
        event("track", event="conversion", userId="u-1", properties={"total": 19.999, "orderId": "x"}),
        {
            "event_name": "conversion",
            "data": {"partner_user_id": "u-1", "cart_value": "20.00", "event_time": TIME, "orderId": "x"},
        },
        id="total-rounds-half-up-to-cents",
    ),
    pytest.param(
        event(
            "track",
            event="conversion",
            properties={"email": "old@example.com", "required_labels": "existing_customer", "cart_value": 0.1 + 0.2},
        ),
        {
            "event_name": "conversion",
            "data": {"email": "old@example.com", "required_labels": "existing_customer", "cart_value": "0.30", "event_time": TIME},
        },
        id="required-labels-pass-through",
    ),
    pytest.param(
        event("track", event="registration", userId=42, timestamp="2026-11-23T12:00:00+02:00", properties={}),
        {"event_name": "registration", "data": {"partner_user_id": "42", "event_time": "2026-11-23T12:00:00+0200"}},
        id="numeric-user-id-and-offset-kept",
    ),
    pytest.param(
        event("track", event="registration", userId="u-1", properties={"partner_user_id": "p-7", "email": ""}),
        {"event_name": "registration", "data": {"partner_user_id": "u-1", "event_time": TIME}},
        id="user-id-wins-over-property",
    ),
    pytest.param(
        event("track", event="registration", anonymousId="a", properties={"partner_user_id": "p-7", "nested": {"a": [1]}}),
        {
            "event_name": "registration",
            "data": {"partner_user_id": "p-7", "partner_anonymous_id": "a", "event_time": TIME, "nested": {"a": [1]}},
        },
        id="partner-user-id-property-when-no-user-id",
    ),
]


@pytest.mark.parametrize("segment, body", TRACK_CASES)
def test_track_becomes_an_extole_event_with_mapped_fields_and_other_properties_as_data(segment, body):
    assert map_event(segment, settings()) == {"path": "/v5/events", "body": body}


@pytest.mark.parametrize("endpoint", ["/v5/events", "/v6/events", "/v6/async-events"])
def test_track_goes_to_the_configured_endpoint(endpoint):
    call = map_event(event("track", event="conversion", userId="u"), settings(track_endpoint=endpoint))
    assert call["path"] == endpoint


IDENTIFY_CASES = [
    pytest.param(
        event(
            "identify",
            userId="userId123",
            traits={"email": "john.doe@example.com", "firstName": "John", "lastName": "Doe", "age": 25, "existingCustomer": True},
        ),
        {
            "event_name": "identify",
            "data": {
                "partner_user_id": "userId123",
                "email": "john.doe@example.com",
                "first_name": "John",
                "last_name": "Doe",
                "age": 25,
                "existingCustomer": True,
                "event_time": TIME,
            },
        },
        id="segment-docs-example",
    ),
    pytest.param(
        event("identify", userId="u-1", traits={"first_name": "Jo", "last_name": "Ng"}, context={"traits": {"email": "jo@example.com"}}),
        {"event_name": "identify", "data": {"partner_user_id": "u-1", "email": "jo@example.com", "first_name": "Jo", "last_name": "Ng", "event_time": TIME}},
        id="snake-case-and-context-traits",
    ),
    pytest.param(
        event(
            "identify",
            userId="u-1",
            traits={"order_completed_last_30days": False},
            context={"personas": {"computation_class": "audience", "computation_key": "order_completed_last_30days"}},
            integrations={"All": False, "Extole Platform": True},
        ),
        {"event_name": "identify", "data": {"partner_user_id": "u-1", "order_completed_last_30days": False, "event_time": TIME}},
        id="personas-audience-false-is-sent",
    ),
    pytest.param(
        event("identify", anonymousId="a-1", traits={"email": "x@example.com", "plan": None}, context={"ip": "198.51.100.1"}),
        {
            "event_name": "identify",
            "data": {"email": "x@example.com", "plan": None, "partner_anonymous_id": "a-1", "extole_consumer_ip": "198.51.100.1", "event_time": TIME},
        },
        id="anonymous-with-email",
    ),
]


@pytest.mark.parametrize("segment, body", IDENTIFY_CASES)
def test_identify_sends_names_from_camel_or_snake_case_and_every_other_trait_as_a_profile_parameter(segment, body):
    assert map_event(segment, settings()) == {"path": "/v5/events", "body": body}


def test_identify_in_flat_mode_posts_the_body_extoles_segment_app_sends():
    segment = event(
        "identify",
        userId="u-1",
        anonymousId="a-1",
        context={"ip": "203.0.113.5"},
        traits={"email": "ann@example.com", "firstName": "Ann", "order_completed_last_30days": False},
    )
    assert map_event(segment, settings(identify_mode="flat", extole_app="Segment Destination App")) == {
        "path": "/v5/events/identify",
        "body": {
            "partner_user_id": "u-1",
            "email": "ann@example.com",
            "partner_anonymous_id": "a-1",
            "extole_consumer_ip": "203.0.113.5",
            "traits": {"first_name": "Ann", "order_completed_last_30days": False},
            "extole_app": "Segment Destination App",
        },
    }


def test_event_time_can_pass_the_segment_timestamp_unchanged():
    call = map_event(event("track", event="conversion", userId="u"), settings(event_time_format="original"))
    assert call["body"]["data"]["event_time"] == TS


def test_extole_app_setting_labels_every_event():
    call = map_event(event("track", event="conversion", userId="u"), settings(extole_app="eventrouter"))
    assert call["body"]["data"]["extole_app"] == "eventrouter"


def test_an_event_without_timestamp_lets_extole_use_processing_time():
    segment = event("track", event="conversion", userId="u")
    del segment["timestamp"]
    assert "event_time" not in map_event(segment, settings())["body"]["data"]


DELETE_CASES = [
    pytest.param(
        {"type": "delete", "userId": "056tf9eqw24", "messageId": "m", "timestamp": TS, "context": None, "integrations": None},
        {"partner_user_id": "056tf9eqw24", "note": "Erasure request from eventrouter"},
        id="by-user-id-null-context",
    ),
    pytest.param(
        {"type": "delete", "userId": "u-1", "messageId": "m", "timestamp": TS, "context": [], "integrations": [], "traits": {"email": "a@example.com"}},
        {"partner_user_id": "u-1", "note": "Erasure request from eventrouter"},
        id="user-id-preferred-over-email-empty-list-context",
    ),
    pytest.param(
        {"type": "delete", "messageId": "m", "timestamp": TS, "context": {"traits": {"email": "a@example.com"}}},
        {"email": "a@example.com", "note": "Erasure request from eventrouter"},
        id="by-email-when-that-is-all",
    ),
]


@pytest.mark.parametrize("segment, body", DELETE_CASES)
def test_delete_becomes_an_extole_erasure(segment, body):
    assert map_event(segment, settings()) == {"path": "/v4/erasures", "body": body}


def test_erasure_note_is_a_setting():
    call = map_event(event("delete", userId="u"), settings(erasure_note="GDPR ticket"))
    assert call["body"]["note"] == "GDPR ticket"


REJECTED = [
    pytest.param(event("track", event="conversion", anonymousId="a", properties={}), "Extole needs an email or a partner_user_id", id="no-identity"),
    pytest.param(event("identify", anonymousId="a", traits={"plan": "pro"}), "Extole needs an email or a partner_user_id", id="identify-no-identity"),
    pytest.param(event("track", event="conversion", userId="u" * 39), "partner_user_id is 39 characters long; Extole allows at most 38", id="long-user-id"),
    pytest.param(
        event("track", event="conversion", userId="u", properties={"email": "a" * 245 + "@example.com"}),
        "email is 257 characters long; Extole allows at most 256",
        id="long-email",
    ),
    pytest.param(event("identify", userId="u", traits={"firstName": "F" * 40}), "first_name is 40 characters long; Extole allows at most 38", id="long-first-name"),
    pytest.param(event("identify", userId="u", traits={"last_name": "L" * 39}), "last_name is 39 characters long; Extole allows at most 38", id="long-last-name"),
    pytest.param(
        event("track", event="conversion", userId="u", properties={"order_id": "o" * 39}),
        "partner_conversion_id is 39 characters long; Extole allows at most 38",
        id="long-order-id",
    ),
    pytest.param(event("track", event="conversion", userId="u", properties={"revenue": "lots"}), "cart_value 'lots' is not a number", id="text-amount"),
    pytest.param(event("track", event="conversion", userId="u", properties={"total": True}), "cart_value must be a number, got bool", id="bool-amount"),
    pytest.param(event("track", event="conversion", userId="u", properties={"total": float("nan")}), "cart_value must be a finite number", id="nan-amount"),
    # more digits than Decimal keeps: a clear reason, not "mapping failed: InvalidOperation"
    pytest.param(event("track", event="conversion", userId="u", properties={"total": 1e30}), "cart_value 1e+30 is too large", id="huge-amount"),
    pytest.param(event("track", event="conversion", userId={"id": 1}), "partner_user_id must be text, got dict", id="object-user-id"),
    pytest.param(event("track", event="", userId="u"), "needs an event name", id="no-event-name"),
    pytest.param(event("track", event="conversion", userId="u", timestamp="yesterday"), "timestamp 'yesterday' is not an ISO 8601", id="bad-timestamp"),
    pytest.param({"type": "delete", "messageId": "m", "timestamp": TS, "context": None}, "needs a userId or an email", id="delete-no-key"),
]


@pytest.mark.parametrize("segment, reason", REJECTED)
def test_events_extole_would_refuse_are_rejected_with_a_reason_naming_the_field_never_truncated(segment, reason):
    with pytest.raises(RejectedEvent) as exc:
        map_event(segment, settings())
    assert reason in exc.value.reason


@pytest.mark.parametrize("kind", ["page", "screen", "group", "alias"])
def test_types_extole_does_not_take_are_skipped_with_a_reason(kind):
    with pytest.raises(SkippedEvent, match=f"not {kind}"):
        map_event(event(kind, userId="u"), settings())


def test_exactly_the_limit_is_accepted():
    segment = event("track", event="conversion", userId="u" * 38, properties={"email": "a" * 244 + "@example.com"})
    data = map_event(segment, settings())["body"]["data"]
    assert (len(data["partner_user_id"]), len(data["email"])) == (38, 256)
