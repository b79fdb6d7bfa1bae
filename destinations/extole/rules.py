"""Extole's field rules, shared by live delivery and the event file so both
refuse the same things with the same reasons."""
from __future__ import annotations

import math
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Mapping

from destinations.errors import RejectedEvent

#: most characters Extole accepts per field (recent-customer-purchase-upload)
LIMITS: dict[str, int] = {
    "email": 256,
    "partner_user_id": 38,
    "first_name": 38,
    "last_name": 38,
    "partner_conversion_id": 38,
}
IDENTITY_FIELDS = tuple(LIMITS)
CENTS = Decimal("0.01")
#: the format of Extole's examples: 2013-08-11T14:33:18-0700
EXTOLE_TIME = "%Y-%m-%dT%H:%M:%S%z"


def as_text(name: str, value: Any) -> str:
    """An identity field as text (a numeric user or order id becomes its digits)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RejectedEvent(f"{name} must be text, got {type(value).__name__} {value!r}")
    return str(value)


def check_fields(data: Mapping[str, Any]) -> None:
    """Extole's limits: an email or a partner_user_id, and no field longer than it allows."""
    if not data.get("email") and not data.get("partner_user_id"):
        raise RejectedEvent("Extole needs an email or a partner_user_id (userId); the event has neither")
    for name, limit in LIMITS.items():
        value = data.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise RejectedEvent(f"{name} is {len(value)} characters long; Extole allows at most {limit}")


def cart_value(value: Any) -> str:
    """An amount as a decimal string with exactly two places ("99.90").

    Extole asks for a "number with two decimal places" and its API examples
    quote it ("cart_value": "100"); a JSON number cannot keep "99.90" or
    "100.00", a string can, and it is the same text as the event file's column.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise RejectedEvent(f"cart_value must be a number, got {type(value).__name__} {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise RejectedEvent(f"cart_value must be a finite number, got {value!r}")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else repr(value) if isinstance(value, float) else value)
    except InvalidOperation:
        raise RejectedEvent(f"cart_value {value!r} is not a number") from None
    if not amount.is_finite():
        raise RejectedEvent(f"cart_value must be a finite number, got {value!r}")
    try:
        return str(amount.quantize(CENTS, rounding=ROUND_HALF_UP))
    except InvalidOperation:  # more digits than Decimal keeps (28)
        raise RejectedEvent(f"cart_value {value!r} is too large") from None


def parse_time(value: str) -> datetime:
    """An ISO 8601 date-time (``Z`` or an offset; a naive one is taken as UTC)."""
    when = datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def format_time(when: datetime) -> str:
    """Extole's documented form, keeping the offset: 2026-11-23T10:00:00+0000."""
    return when.strftime(EXTOLE_TIME)


def event_time(timestamp: Any, fmt: str = "extole") -> str:
    """The event's timestamp as ``event_time`` (``fmt`` "original" passes it unchanged)."""
    if not isinstance(timestamp, str):
        raise RejectedEvent(f"timestamp must be an ISO 8601 string, got {type(timestamp).__name__} {timestamp!r}")
    try:
        when = parse_time(timestamp)
    except ValueError:
        raise RejectedEvent(f"timestamp {timestamp!r} is not an ISO 8601 date-time") from None
    return timestamp if fmt == "original" else format_time(when)
