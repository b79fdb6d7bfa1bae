"""Segment events -> Extole calls. Pure: no I/O, no secrets.

Each mapper returns ``{"path": ..., "body": ...}``; the client picks the host
and adds the auth. Field tables say where each Extole field comes from (the
first non-empty source wins); the source keys a table maps do not go along a
second time as extra data.
"""
from __future__ import annotations

from typing import Any, Mapping

from destinations.audiences import profile_form
from destinations.extole import rules
from destinations.mapping import FieldTable, pick, source_keys, traits
from destinations.errors import RejectedEvent, SkippedEvent

IDENTIFY_EVENT_PATH = "/v5/events"
IDENTIFY_FLAT_PATH = "/v5/events/identify"
ERASURE_PATH = "/v4/erasures"

#: who did it, for track: the event's own properties first, then the user's traits
TRACK_USER: FieldTable = {
    "partner_user_id": ("userId", "properties.partner_user_id"),
    "email": ("properties.email", "context.traits.email"),
    "first_name": ("properties.first_name", "properties.firstName", "context.traits.firstName", "context.traits.first_name"),
    "last_name": ("properties.last_name", "properties.lastName", "context.traits.lastName", "context.traits.last_name"),
}
TRACK_ORDER: FieldTable = {
    "partner_conversion_id": ("properties.partner_conversion_id", "properties.order_id"),
    "cart_value": ("properties.cart_value", "properties.revenue", "properties.total"),
}
IDENTIFY_USER: FieldTable = {
    "partner_user_id": ("userId", "traits.partner_user_id", "context.traits.partner_user_id"),
    "email": ("traits.email", "context.traits.email"),
    "first_name": ("traits.firstName", "traits.first_name", "context.traits.firstName", "context.traits.first_name"),
    "last_name": ("traits.lastName", "traits.last_name", "context.traits.lastName", "context.traits.last_name"),
}
#: the device, as Extole's own Segment app sends it
DEVICE: FieldTable = {
    "partner_anonymous_id": ("anonymousId",),
    "extole_consumer_ip": ("context.ip",),
}
ERASURE_KEYS: FieldTable = {
    "partner_user_id": ("userId",),
    "email": ("traits.email", "context.traits.email", "properties.email"),
}

TRACK_MAPPED_PROPERTIES = source_keys({**TRACK_USER, **TRACK_ORDER}, "properties")
IDENTIFY_MAPPED_TRAITS = source_keys(IDENTIFY_USER, "traits") | source_keys(IDENTIFY_USER, "context.traits")


def map_event(event: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The Extole call for one Segment event (an audience event as the identify Segment would send)."""
    event = profile_form(dict(event))
    kind = event.get("type")
    if kind == "track":
        return track(event, settings)
    if kind == "identify":
        return identify(event, settings)
    if kind == "delete":
        return erasure(event, settings)
    raise SkippedEvent(f"Extole takes identify, track and delete calls, not {kind}")


def track(event: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """``{"event_name": event, "data": {...}}``: the mapped fields plus every other property."""
    name = event.get("event")
    if not isinstance(name, str) or not name:
        raise RejectedEvent("a track event needs an event name (Extole: missing_event_name)")
    properties = event.get("properties") or {}
    data = {k: v for k, v in properties.items() if k not in TRACK_MAPPED_PROPERTIES}
    data.update(user_fields(event, TRACK_USER))
    order = pick(event, TRACK_ORDER)
    if "partner_conversion_id" in order:
        data["partner_conversion_id"] = rules.as_text("partner_conversion_id", order["partner_conversion_id"])
    if "cart_value" in order:
        data["cart_value"] = rules.cart_value(order["cart_value"])
    data.update(common_fields(event, settings))
    rules.check_fields(data)
    return {"path": settings["track_endpoint"], "body": {"event_name": name, "data": data}}


def identify(event: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """A profile update: the mapped traits plus every other trait as a profile parameter.

    A false audience trait (``order_completed_last_30days: false``) is a value
    like any other: it goes along.
    """
    others = {k: v for k, v in traits(event).items() if k not in IDENTIFY_MAPPED_TRAITS}
    user = user_fields(event, IDENTIFY_USER)
    rules.check_fields(user)
    if settings["identify_mode"] == "flat":
        return {"path": IDENTIFY_FLAT_PATH, "body": flat_identify(event, user, others, settings)}
    data = {**others, **user, **common_fields(event, settings)}
    return {"path": IDENTIFY_EVENT_PATH, "body": {"event_name": settings["identify_event_name"], "data": data}}


def flat_identify(
    event: Mapping[str, Any], user: dict[str, Any], others: dict[str, Any], settings: Mapping[str, Any]
) -> dict[str, Any]:
    """The body of ``/v5/events/identify`` as Extole's Segment app sends it: keys on top, the rest in ``traits``."""
    body = {k: user[k] for k in ("partner_user_id", "email") if k in user}
    body.update(pick(event, DEVICE))
    body["traits"] = {**others, **{k: user[k] for k in ("first_name", "last_name") if k in user}}
    if settings.get("extole_app"):
        body["extole_app"] = settings["extole_app"]
    return body


def erasure(event: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """GDPR erasure by ``partner_user_id``, or by email when that is all the event has."""
    keys = pick(event, ERASURE_KEYS)
    if "partner_user_id" in keys:
        body = {"partner_user_id": rules.as_text("partner_user_id", keys["partner_user_id"])}
    elif "email" in keys:
        body = {"email": rules.as_text("email", keys["email"])}
    else:
        raise RejectedEvent("an Extole erasure needs a userId or an email; the delete has neither")
    body["note"] = settings["erasure_note"]
    return {"path": ERASURE_PATH, "body": body}


def user_fields(event: Mapping[str, Any], table: FieldTable) -> dict[str, str]:
    """Who the event is about, as text (a numeric user id becomes its digits)."""
    return {k: rules.as_text(k, v) for k, v in pick(event, table).items()}


def common_fields(event: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """What every Extole event carries besides its own data: time, device, app."""
    out: dict[str, Any] = {}
    if event.get("timestamp"):
        out["event_time"] = rules.event_time(event["timestamp"], settings["event_time_format"])
    out.update(pick(event, DEVICE))
    if settings.get("extole_app"):
        out["extole_app"] = settings["extole_app"]
    return out
