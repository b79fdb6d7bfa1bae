"""What operators read of the records kept in Redis: the CLI and the operator API share it.

Stored records carry internal keys (``u``: the hash GDPR purges match on, ``r``:
the received time as the envelope has it). Operators get none of those: the
received time is ``received_at``, and every name means the same thing in the
CLI, the operator API, the dashboard and the README:

- *rejected*: refused at ingest (not valid Segment), answered 400, kept with the reasons;
- *dead letter*: an event a destination will not get — the vendor or the mapping refused it,
  or delivery *gave up* after ``retry_window`` — kept with the reason, replayable;
- *dead-lettered*: how many events became dead letters (the ones kept now are ``dead_letters``).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Mapping

#: epoch-millisecond fields, shown as ISO 8601 to people
TIME_FIELDS = ("received_at", "first_attempt_at", "failed_at", "next_attempt_at")
#: ingest counters, in the order people read them
INGEST_COUNTS = ("accepted", "rejected", "duplicate", "suppressed")


#: a dead letter's stored request and response (up to 16 KB): shown by its own endpoint, not in lists
EXCHANGE_KEYS = ("exchanges", "exchanges_left_out")


_STREAM_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})")  # not \d: Redis reads no other script's digits
#: what Redis takes as a stream id's parts (unsigned 64-bit)
_MAX_U64 = 2**64 - 1


def stream_id(value: Any) -> str | None:
    """``value`` when it is a stream entry id Redis accepts (``<ms>-<seq>``), else None: a bad id is
    the client's mistake (404 / 400), not a storage error."""
    m = _STREAM_ID.fullmatch(value) if isinstance(value, str) else None
    if m is None or int(m.group(1)) > _MAX_U64 or int(m.group(2)) > _MAX_U64:
        return None
    return value


def dead_letter(entry_id: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """A dead letter as operators see it in a list: no internal keys, the received time by its name,
    whether its request is stored (``GET /v1/admin/dead-letters/<name>/<entry_id>`` shows it)."""
    out: dict[str, Any] = {"entry_id": entry_id}
    for key, value in record.items():
        if key == "u" or key in EXCHANGE_KEYS:
            continue
        out["received_at" if key == "r" else key] = value
    out["request_stored"] = bool(record.get("exchanges"))
    return out


def rejected(entry_id: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """An ingest rejection as operators see it."""
    return {"entry_id": entry_id, **{k: v for k, v in record.items() if k != "u"}}


def destination_counts(depth: Mapping[str, int]) -> dict[str, int]:
    """A destination's queue depth and counters; the counter of events that became dead letters
    is ``dead_lettered`` (the word "rejected" is kept for what ingest refuses)."""
    return {("dead_lettered" if k == "rejected" else k): v for k, v in depth.items()}


def ingest_counts(raw: Mapping[str, int]) -> dict[str, int]:
    """Every ingest counter, zero when nothing was counted yet."""
    return {**{k: 0 for k in INGEST_COUNTS}, **raw}


def iso_ms(ms: Any) -> Any:
    """Epoch milliseconds as ISO 8601 UTC (``2026-12-01T18:00:00.123Z``); anything else as it is."""
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or ms <= 0:
        return ms
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def with_iso_times(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record with its epoch-ms time fields as ISO 8601 (for people; ``--json`` keeps ms)."""
    return {k: iso_ms(v) if k in TIME_FIELDS else v for k, v in record.items()}
