"""What the event and order mappers share: the user's identifiers as a field
table, and conversions of Segment values to what Yespo expects."""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any, Mapping

from destinations.base import require
from destinations.errors import RejectedEvent

#: the user's identifiers, which every track event and order carries when known
IDENTITY = {
    "email": ("context.traits.email", "properties.email", "traits.email"),
    "phone": ("context.traits.phone", "properties.phone", "traits.phone"),
    "externalCustomerId": ("userId",),
}


def event_time(event: Mapping[str, Any]) -> datetime:
    """The event's timestamp in UTC."""
    raw = event.get("timestamp")
    require(isinstance(raw, str) and raw, "event has no timestamp")
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise RejectedEvent(f"timestamp {raw!r} is not ISO 8601") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    try:
        return when.astimezone(timezone.utc)
    except OverflowError:  # 9999-12-31T23:59:59-05:00 is after year 9999 in UTC
        raise RejectedEvent(f"timestamp {raw!r} is out of range in UTC") from None


def number(value: Any, what: str) -> int | float:
    """A finite number from a number or a numeric string; rejects anything else."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise RejectedEvent(f"{what} is not a number: {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RejectedEvent(f"{what} is not a number: {value!r}")
    return value


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def encode(body: Any) -> bytes:
    """The bytes that go on the wire; the client sends exactly these, so sizes checked on them hold."""
    return compact_json(body).encode("utf-8")
