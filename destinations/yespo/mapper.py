"""Segment events -> Yespo requests. Pure: no I/O; the clock comes in as ``now``.

Each event becomes one :class:`YespoCall`: which endpoint family it goes to
and the exact JSON it contributes (a whole /event body, one entry of a
past_events / orders / contacts batch, or the id a delete needs).
"""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

from destinations.audiences import profile_form, synced_audience
from destinations.base import require
from destinations.mapping import first, is_empty, pick, source_keys
from destinations.yespo.common import IDENTITY, compact_json, encode, event_time
from destinations.yespo.contacts import contact_body, contact_field_names
from destinations.yespo.limits import EVENT_BODY_MAX_BYTES, EVENT_TYPE_KEY_MAX, FORBIDDEN_CHARS, KEY_VALUE_MAX
from destinations.yespo.orders import CONSUMED as ORDER_PROPERTIES
from destinations.yespo.orders import api_order, order_event_fields
from destinations.yespo.settings import REJECT
from destinations.errors import RejectedEvent, SkippedEvent

Settings = Mapping[str, Any]


class Kind(str, enum.Enum):
    EVENT = "event"            # POST /api/{v}/event, one per request
    PAST_EVENT = "past_event"  # POST /api/{v}/past_events, up to 500 per request
    ORDER = "order"            # POST /api/v1/orders, up to 1000 per request
    CONTACT = "contact"        # POST /api/v1/contact, or /api/v1/contacts in bulk
    DELETE = "delete"          # DELETE /api/v1/contact?externalCustomerId=...&erase=true


@dataclass(frozen=True)
class YespoCall:
    kind: Kind
    body: dict[str, Any]


# field tables ------------------------------------------------------------------

KEY_VALUE_PATHS = {
    "email": IDENTITY["email"],
    "userId": ("userId",),
    "phone": IDENTITY["phone"],
    "anonymousId": ("anonymousId",),
}

#: besides userId (externalCustomerId always wins), the contactFields each bulk ``dedupeOn`` can match on
DEDUPE_CHANNELS = {
    "externalCustomerId": (),
    "email": ("email",),
    "sms": ("sms",),
    "email_or_sms": ("email", "sms"),
}


# entry point ---------------------------------------------------------------------

def map_event(event: dict[str, Any], settings: Settings, now: datetime) -> YespoCall:
    """The Yespo call for one Segment event (an audience event as the identify Segment would send)."""
    audience = synced_audience(dict(event))
    event = profile_form(event)
    kind = event.get("type")
    if kind == "track":
        return map_track(event, settings, now)
    if kind == "identify":
        if audience and audience not in settings["contact_fields"]:
            raise SkippedEvent(
                f"audience {audience!r} has no Yespo field: map it in contact_fields "
                "(audience key -> additional field id)"
            )
        return map_identify(event, settings)
    if kind == "delete":
        return map_delete(event)
    raise SkippedEvent(f"Yespo does not take {kind} events")


# track -----------------------------------------------------------------------------

def map_track(event: dict[str, Any], settings: Settings, now: datetime) -> YespoCall:
    """An /event body; an orders-API order; or, for old events, a past event."""
    if is_order(event, settings) and settings["orders_via"] == "orders_api":
        return YespoCall(Kind.ORDER, api_order(event, settings))
    days = settings["past_events_after_days"]
    if days is not None and now - event_time(event) > timedelta(days=days):
        return YespoCall(Kind.PAST_EVENT, past_event(event, settings))
    body = event_body(event, settings)
    check_size(body)
    return YespoCall(Kind.EVENT, body)


def past_event(event: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """One entry of a /past_events request: the /event body plus ``occurred``."""
    body = {**event_body(event, settings), "occurred": occurred(event_time(event))}
    check_size(body)
    return body


def event_body(event: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """``{eventTypeKey, keyValue, params}``: order events shaped like Yespo's orderCreated example."""
    if is_order(event, settings):
        type_key = settings["order_event_key"]
        fields = order_event_fields(event, settings)
        consumed = ORDER_PROPERTIES
    else:
        type_key = event.get("event")
        fields = pick(event, IDENTITY)
        consumed = source_keys(IDENTITY, "properties")
    properties = event.get("properties") or {}
    fields.update((k, v) for k, v in properties.items() if k not in consumed and k not in fields)
    body_params = params(fields, settings["api_version"])
    if is_order(event, settings) and settings["order_items"] == "array":
        # Yespo's orderCreated example carries items as an array, whatever the API version
        body_params = [{**p, "value": fields["items"]} if p["name"] == "items" else p for p in body_params]
    return {
        "eventTypeKey": event_type_key(type_key, settings["forbidden_char_replacement"]),
        "keyValue": key_value(event, settings["key_value_from"]),
        "params": body_params,
    }


def is_order(event: Mapping[str, Any], settings: Settings) -> bool:
    """An order: a name in order_events, or Yespo's own order event name (``events.rename`` onto orderCreated)."""
    name = event.get("event")
    return name in settings["order_events"] or name == settings["order_event_key"]


def event_type_key(name: Any, replacement: str) -> str:
    """The event name as Yespo's eventTypeKey: forbidden characters replaced (or refused), ≤ 100 characters."""
    require(isinstance(name, str) and name.strip(), "track event has no name")
    bad = sorted(set(name) & FORBIDDEN_CHARS)
    if bad:
        if replacement == REJECT:
            raise RejectedEvent(f"event name {name!r} has characters Yespo forbids in eventTypeKey: {' '.join(bad)}")
        name = "".join(replacement if c in FORBIDDEN_CHARS else c for c in name)
        require(name.strip(), "event name is empty once the characters Yespo forbids are removed")
    require(
        len(name) <= EVENT_TYPE_KEY_MAX,
        f"eventTypeKey is {len(name)} characters; Yespo allows at most {EVENT_TYPE_KEY_MAX}",
    )
    return name


def key_value(event: Mapping[str, Any], sources: list[str]) -> str:
    """Yespo's keyValue: the first configured identifier the event carries."""
    value = None
    for source in sources:
        value = first(event, KEY_VALUE_PATHS[source])
        if value is not None:
            break
    require(value is not None, f"no {' or '.join(sources)} for Yespo's keyValue")
    value = str(value)
    require(len(value) <= KEY_VALUE_MAX, f"keyValue is {len(value)} characters; Yespo allows at most {KEY_VALUE_MAX}")
    bad = sorted(set(value) & FORBIDDEN_CHARS)
    require(not bad, f"keyValue ({source}) has characters Yespo forbids: {' '.join(bad)}")
    return value


def params(fields: Mapping[str, Any], version: str) -> list[dict[str, Any]]:
    """``[{"name", "value"}]``; null values are left out (Yespo has no null parameter)."""
    return [{"name": name, "value": param_value(value, version)} for name, value in fields.items() if value is not None]


def param_value(value: Any, version: str) -> Any:
    """v1 takes strings only (nested JSON escaped into one); v2 takes nested JSON as is."""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return value if version == "v2" else compact_json(value)
    return json.dumps(value)


def check_size(body: Mapping[str, Any]) -> None:
    size = len(encode(body))
    require(size <= EVENT_BODY_MAX_BYTES, f"event body is {size} bytes; Yespo accepts at most {EVENT_BODY_MAX_BYTES}")


# identify --------------------------------------------------------------------------

def map_identify(event: dict[str, Any], settings: Settings) -> YespoCall:
    contact = contact_body(event, settings["contact_fields"])
    if settings["identify_via"] == "contact":
        return YespoCall(Kind.CONTACT, contact)
    fields = contact_field_names(contact)
    dedupe_on = settings["dedupe_on"]
    keys = ("externalCustomerId",) + DEDUPE_CHANNELS[dedupe_on]
    require(
        any(k in fields for k in keys),
        f"the bulk upsert finds contacts by userId or dedupe_on ({dedupe_on}); this identify has neither",
    )
    return YespoCall(Kind.CONTACT, contact)


# delete ----------------------------------------------------------------------------

def map_delete(event: Mapping[str, Any]) -> YespoCall:
    user_id = event.get("userId")
    require(not is_empty(user_id), "delete has no userId; Yespo erases contacts by externalCustomerId")
    return YespoCall(Kind.DELETE, {"externalCustomerId": str(user_id)})


# helpers ---------------------------------------------------------------------------

def occurred(when: datetime) -> str:
    """past_events' ``occurred``: YYYY-MM-DDTHH:mm (UTC)."""
    return when.strftime("%Y-%m-%dT%H:%M")
