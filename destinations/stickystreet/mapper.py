"""Segment events -> Sticky Street calls. Pure: no I/O, no secrets.

Each mapped event is a dict whose ``type`` is the API call it becomes:

- identify -> ``{"type": "customers_batch", "customer": {column: text}}``, one
  row of a batch import (the columns and their delimiter are chosen per
  batch in :mod:`destinations.stickystreet.profiles`);
- track ``activity_event`` -> ``{"type": "record_activity", "code", "campaign_id", "amount"[, "authorization"]}``;
- delete -> ``{"type": "customer_delete", "code"}``.

The client adds the credentials at send time.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Mapping

from destinations.audiences import profile_form, synced_audience
from destinations.mapping import first, get_path, is_empty, pick, traits
from destinations.stickystreet.profiles import row_problem
from destinations.errors import RejectedEvent, SkippedEvent

#: column <- first non-empty source path, read from {"userId": ..., "traits": <identify + context traits>}
CUSTOMER: dict[str, tuple[str, ...]] = {
    "code": ("userId",),
    "first_name": ("traits.firstName", "traits.first_name"),
    "last_name": ("traits.lastName", "traits.last_name"),
    "email": ("traits.email",),
    "phone": ("traits.phone",),
    "custom_date": ("traits.custom_date", "traits.customDate", "traits.birthday"),
    "street1": ("traits.address.street", "traits.address.street1", "traits.street1", "traits.street"),
    "street2": ("traits.address.street2", "traits.street2"),
    "city": ("traits.address.city", "traits.city"),
    "state": ("traits.address.state", "traits.state"),
    "postal_code": (
        "traits.address.postalCode",
        "traits.address.postal_code",
        "traits.postalCode",
        "traits.postal_code",
    ),
    "country": ("traits.address.country", "traits.country"),
}
CARD_NUMBER = ("traits.card_number", "traits.cardNumber")
AUTO_ADD = ("traits.auto_add", "traits.autoAdd")
ORDER_ID = ("properties.order_id", "properties.orderId")
ACTIVITY_CALL = "record_activity"

#: YYYY-MM-DD (or YYYY/MM/DD), optionally followed by an ISO time: the year comes first, so day and month can't swap
ISO_DATE = re.compile(
    r"^(?P<y>\d{4})(?P<sep>[-/])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})"
    r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$"
)


def map_event(event: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    audience = synced_audience(dict(event))
    event = profile_form(dict(event))
    kind = event.get("type")
    if kind == "identify" and audience and audience not in settings["custom_fields"]:
        raise SkippedEvent(
            f"audience {audience!r} has no Sticky Street field: map it in custom_fields "
            "(audience key -> custom_field_N)"
        )
    if kind == "identify":
        return {"type": "customers_batch", "customer": customer_row(event, settings)}
    if kind == "track":
        return activity(event, settings)
    if kind == "delete":
        return {"type": "customer_delete", "code": require_code(event, "delete")}
    raise SkippedEvent(f"Sticky Street has no call for {kind} events")


def customer_row(event: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, str]:
    """One customer as column -> text, only the columns this event has a value for."""
    code = require_code(event, "identify")
    source = {"userId": code, "traits": traits(event)}
    values: dict[str, Any] = pick(source, CUSTOMER)
    values.update(name_parts(source["traits"], values))
    card = code if settings["card_number"] == "user_id" else first(source, CARD_NUMBER)
    if card is not None:
        values["card_number"] = card
    bonus = first(source, AUTO_ADD, settings["auto_add"])
    if bonus is not None:
        values["auto_add"] = bonus
    for trait, column in settings["custom_fields"].items():
        value = source["traits"].get(trait)
        if isinstance(value, bool):
            # a yes/no trait, e.g. an audience: the column holds the word
            values[column] = "true" if value else "false"
        elif not is_empty(value):
            values[column] = value
    if "custom_date" in values:
        values["custom_date"] = ymd(values["custom_date"])
    row = {column: text(column, value) for column, value in values.items()}
    problem = row_problem(row)
    if problem:
        raise RejectedEvent(problem)
    return row


def name_parts(user_traits: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, str]:
    """first/last name from Segment's ``name`` trait when the split ones are missing ("Ada King Lovelace" -> Ada / King Lovelace)."""
    name = user_traits.get("name")
    if not isinstance(name, str) or not name.strip() or ("first_name" in values and "last_name" in values):
        return {}
    first_name, _, last_name = name.strip().partition(" ")
    parts = {"first_name": first_name, "last_name": last_name.strip()}
    return {k: v for k, v in parts.items() if v and k not in values}


def ymd(value: Any) -> str:
    """custom_date as YYYY-MM-DD, the only format Sticky Street takes.

    ISO dates and date-times keep the calendar date as written (a birthday
    sent as 1970-07-14T00:00:00+02:00 stays the 14th); 04-03-2010 and the
    like are refused: day and month can't be told apart.
    """
    match = ISO_DATE.match(value.strip()) if isinstance(value, str) else None
    if not match:
        raise RejectedEvent(
            f"custom_date {value!r} is not a YYYY-MM-DD date or ISO date-time; "
            "Sticky Street takes YYYY-MM-DD only and other formats can't tell day from month"
        )
    try:
        date = dt.date(int(match["y"]), int(match["m"]), int(match["d"]))
    except ValueError as exc:
        raise RejectedEvent(f"custom_date {value!r} is not a real date ({exc})") from None
    return date.isoformat()


def text(column: str, value: Any) -> str:
    """A cell of profiles_data: text, numbers as written; lists, objects and booleans are refused."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RejectedEvent(f"{column} is a {type(value).__name__}; Sticky Street takes text or a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise RejectedEvent(f"{column} is {value}; Sticky Street takes a finite number")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def activity(event: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """record_activity for the configured order event: the amount in dollars or in points."""
    if not settings["record_activity"]:
        raise SkippedEvent("record_activity is off: track events are not sent to Sticky Street")
    name = event.get("event")
    # the API's own name for it counts too: events.rename {"Purchase": "record_activity"}
    if name not in (settings["activity_event"], ACTIVITY_CALL):
        raise SkippedEvent(f"only {settings['activity_event']!r} track events become Sticky Street activity, not {name!r}")
    form: dict[str, Any] = {
        "type": "record_activity",
        "code": require_code(event, "track"),
        "campaign_id": settings["campaign_id"],
        "amount": amount(event, settings),
    }
    order_id = first(event, ORDER_ID)
    if order_id is not None:
        form["authorization"] = text("authorization", order_id)
    return form


def amount(event: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    paths = [f"properties.{name}" for name in settings["amount_from"]]
    raw = first(event, paths)
    if raw is None:
        raise RejectedEvent(f"{event.get('event')!r} has none of {', '.join(paths)}: no amount to record")
    try:
        value = Decimal(str(raw)) if not isinstance(raw, bool) else Decimal("nan")
    except InvalidOperation:
        value = Decimal("nan")
    if not value.is_finite():
        raise RejectedEvent(f"the order amount {raw!r} is not a number")
    if value < 0:
        raise RejectedEvent(f"the order amount {raw!r} is negative; refunds are not recorded as Sticky Street activity")
    if settings["amount_unit"] == "points":
        # whole points, never more than the order earned
        points = (value * Decimal(str(settings["points_per_dollar"]))).to_integral_value(ROUND_FLOOR)
        # plain digits: str() of Decimal("1E+2") is "1E+2"
        return format(points, "f")
    try:
        return str(value.quantize(Decimal("0.01"), ROUND_HALF_UP))
    except InvalidOperation:  # more digits than Decimal keeps (28)
        raise RejectedEvent(f"the order amount {raw!r} is too large") from None


def require_code(event: Mapping[str, Any], kind: str) -> str:
    """The customer's ``code``: our userId, the key every Sticky Street call matches customers on."""
    user_id = get_path(event, "userId", None)
    if is_empty(user_id):
        raise RejectedEvent(f"{kind} has no userId: Sticky Street needs it as the customer's code")
    return text("userId", user_id)
