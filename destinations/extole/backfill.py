"""The existing-customer upload: past purchases or sign-ups -> Extole's event file or queued events.

Brands load the last 12 months of customers once at launch, each with only
their most recent action, labelled ``required_labels=existing_customer`` so
their referred purchases don't reward an advocate. Every input row ends in
exactly one count: too old, rejected (with its row number and reason),
superseded by a newer action of the same customer, or written / sent.
"""
from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from destinations.extole import rules
from destinations.extole.backfill_input import EXTRA_VALUES, BackfillError, input_format, read_rows, resolve_columns
from destinations.errors import RejectedEvent
from destinations.host import Host, destination_of_type

EXISTING_CUSTOMER = "existing_customer"
#: Extole's event file columns, in this order
EVENT_FILE_HEADER = (
    "event_name",
    "required_labels",
    "email",
    "partner_user_id",
    "first_name",
    "last_name",
    "event_time",
    "partner_conversion_id",
    "cart_value",
)
# one row -> one action ------------------------------------------------------------------------------------


@dataclass
class Action:
    """One customer's action, ready for Extole."""

    number: int
    customer: str
    when: datetime
    fields: dict[str, str]


def parse_when(value: Any, date_format: str | None = None) -> datetime:
    """A row's date: ISO 8601 (``2024-05-01``, ``2024-05-01 10:12:53 -0700``, ``...Z``), epoch
    seconds or milliseconds, or ``date_format`` (strptime). A date without an offset is UTC."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if value > 100_000_000_000 else value
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    if not isinstance(value, str):
        raise ValueError(f"{type(value).__name__}")
    text = value.strip()
    if not date_format and re.fullmatch(r"\d{9,}(\.\d+)?", text):
        # a CSV has only text: epoch seconds or ms as digits (8 digits is ISO's basic 20260501)
        return parse_when(float(text))
    when = datetime.strptime(text, date_format) if date_format else datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def months_before(now: datetime, months: int) -> datetime:
    """The same day ``months`` calendar months earlier (clamped to the month's last day)."""
    total = now.year * 12 + (now.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    days = [31, 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return now.replace(year=year, month=month, day=min(now.day, days[month - 1]))


def value_of(record: Mapping[str, Any], column: str | None) -> Any:
    if column is None:
        return None
    value = record.get(column)
    if isinstance(value, str):
        value = value.strip()
    return None if value in ("", None) else value


def extract(record: Mapping[str, Any], columns: Mapping[str, str]) -> dict[str, str]:
    """The Extole fields of one row, checked by Extole's rules; RejectedEvent says what is wrong."""
    fields: dict[str, str] = {}
    for name in ("email", "partner_user_id", "first_name", "last_name", "partner_conversion_id"):
        value = value_of(record, columns.get(name))
        if value is not None:
            fields[name] = rules.as_text(name, value)
    amount = value_of(record, columns.get("cart_value"))
    if amount is not None:
        fields["cart_value"] = rules.cart_value(amount)
    rules.check_fields(fields)
    return fields


def customer_key(fields: Mapping[str, str]) -> str:
    """Who the row is about: the lower-cased email, else the partner_user_id."""
    if fields.get("email"):
        return "email:" + fields["email"].lower()
    return "id:" + fields["partner_user_id"]


def synthetic_conversion_id(event: str, customer: str) -> str:
    """A stable partner_conversion_id for a row without an order id, so a re-run is deduplicated by Extole."""
    return "bf-" + hashlib.sha1(f"{event}|{customer}".encode()).hexdigest()[:32]


# the whole file ----------------------------------------------------------------------------------------


@dataclass
class Summary:
    read: int = 0
    too_old: int = 0
    superseded: int = 0
    rejected: int = 0
    kept: int = 0

    def lines(self, verb: str = "written") -> list[str]:
        return [
            f"read        {self.read}",
            f"too old     {self.too_old}",
            f"superseded  {self.superseded}",
            f"rejected    {self.rejected}",
            f"{verb:<11} {self.kept}",
        ]


@dataclass
class Plan:
    event: str
    columns: dict[str, str]
    fmt: str
    header: list[str]
    #: the most recent action of each customer, in input order
    actions: list[Action] = field(default_factory=list)
    #: (row number, reason, the row as read)
    rejects: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    summary: Summary = field(default_factory=Summary)


def plan(
    path: Path,
    *,
    event: str = "conversion",
    months: int = 12,
    now: datetime | None = None,
    columns: Mapping[str, str] | None = None,
    fmt: str | None = None,
    date_format: str | None = None,
) -> Plan:
    """Read the input and decide, row by row, what Extole gets."""
    if months < 1:
        raise BackfillError("--months must be at least 1")
    now = now or datetime.now(timezone.utc)
    try:
        cutoff = months_before(now, months)
    except ValueError:  # before year 1
        raise BackfillError(f"--months {months} reaches back before year 1") from None
    fmt = input_format(path, fmt)
    header, rows = read_rows(path, fmt)
    result = Plan(event=event, columns=resolve_columns(header, columns) if header else {}, fmt=fmt, header=header)
    if header:
        need_columns(result.columns)
    column_cache: dict[tuple[str, ...], dict[str, str]] = {}
    latest: dict[str, Action] = {}
    s = result.summary
    for row in rows:
        s.read += 1
        if fmt == "jsonl" and not row.error:
            keys = tuple(row.record)
            if keys not in column_cache:
                column_cache[keys] = resolve_columns(keys, columns, strict=False)
            cols = column_cache[keys]
        else:
            cols = result.columns
        try:
            if row.error:
                raise RejectedEvent(f"row {row.error}")
            raw_when = value_of(row.record, cols.get("event_time"))
            if raw_when is None:
                raise RejectedEvent("no date (event_time): can't tell whether it is in the window")
            try:
                when = parse_when(raw_when, date_format)
            except (ValueError, OverflowError, OSError):
                hint = f" (--date-format {date_format})" if date_format else "; use ISO 8601 or --date-format"
                raise RejectedEvent(f"date {raw_when!r} is not understood{hint}") from None
            if when < cutoff:
                s.too_old += 1
                continue
            fields = extract(row.record, cols)
        except RejectedEvent as exc:
            s.rejected += 1
            result.rejects.append((row.number, exc.reason, row.record))
            continue
        customer = customer_key(fields)
        action = Action(row.number, customer, when, fields)
        best = latest.get(customer)
        # on a tie the later row wins: exports list amendments after the original
        if best is None or when >= best.when:
            latest[customer] = action
    result.actions = sorted(latest.values(), key=lambda a: a.number)
    s.kept = len(result.actions)
    s.superseded = s.read - s.too_old - s.rejected - s.kept
    for action in result.actions:
        action.fields.setdefault("partner_conversion_id", synthetic_conversion_id(event, action.customer))
    return result


def need_columns(columns: Mapping[str, str]) -> None:
    """A CSV without a date or without any customer column can't give a single row."""
    if "event_time" not in columns:
        raise BackfillError("no date column found; name it with --map event_time=COLUMN")
    if "email" not in columns and "partner_user_id" not in columns:
        raise BackfillError("no email or customer id column found; name one with --map email=COLUMN")


# outputs --------------------------------------------------------------------------------------------


def event_file_name(client_id: str, event: str, now: datetime | None = None) -> str:
    """Extole's naming: ``<client_id>_<event>_<yyyyMMddHHmmss>.csv`` (UTC)."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", client_id):
        raise BackfillError(f"client id {client_id!r} must be letters, digits, _ or -")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", event):
        raise BackfillError(f"event name {event!r} must be letters, digits, _ or - to be part of a file name")
    stamp = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y%m%d%H%M%S")
    return f"{client_id}_{event}_{stamp}.csv"


def event_row(event: str, action: Action) -> list[str]:
    f = action.fields
    values = {"event_name": event, "required_labels": EXISTING_CUSTOMER, "event_time": rules.format_time(action.when), **f}
    return [values.get(column, "") for column in EVENT_FILE_HEADER]


def write_event_file(p: Plan, out_dir: Path, client_id: str, now: datetime | None = None) -> Path:
    """Extole's event file: the exact header, standard CSV quoting, UTF-8."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / event_file_name(client_id, p.event, now)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(EVENT_FILE_HEADER)
        writer.writerows(event_row(p.event, a) for a in p.actions)
    return path


def write_rejects(p: Plan, path: Path) -> Path | None:
    """``row,reason`` and the row as it was read, so it can be fixed and loaded again. None when nothing was rejected."""
    if not p.rejects:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if p.header:
            writer.writerow(["row", "reason", *p.header])
            for number, reason, record in p.rejects:
                writer.writerow([number, reason, *(record.get(c, "") for c in p.header), *record.get(EXTRA_VALUES, [])])
        else:
            writer.writerow(["row", "reason", "record"])
            for number, reason, record in p.rejects:
                writer.writerow([number, reason, json.dumps(record, ensure_ascii=False)])
    return path


def segment_events(p: Plan) -> list[dict[str, Any]]:
    """The same actions as Segment track events, for the Extole destination's queue.

    The messageId is derived from the event, customer and order, and the
    partner_conversion_id is always set, so running the backfill twice sends
    events Extole deduplicates.
    """
    return [segment_event(p.event, a) for a in p.actions]


def segment_event(event: str, action: Action) -> dict[str, Any]:
    f = action.fields
    properties: dict[str, Any] = {"required_labels": EXISTING_CUSTOMER}
    for name in ("email", "first_name", "last_name", "partner_conversion_id", "cart_value"):
        if name in f:
            properties[name] = f[name]
    digest = hashlib.sha1(f"{event}|{action.customer}|{f['partner_conversion_id']}".encode()).hexdigest()[:32]
    out: dict[str, Any] = {
        "type": "track",
        "event": event,
        "messageId": f"extole-backfill-{digest}",
        "timestamp": action.when.isoformat(),
        "properties": properties,
        "context": {"library": {"name": "eventrouter-extole-backfill"}},
    }
    if "partner_user_id" in f:
        out["userId"] = f["partner_user_id"]
    return out


def enqueue(
    events: Sequence[dict[str, Any]],
    push: Callable[[list[dict[str, Any]]], int],
    *,
    chunk: int = 1000,
    progress: Callable[[int], Any] | None = None,
) -> int:
    """Queue ``events`` in chunks through ``push`` (``lambda evs: runtime.enqueue(name, evs)``); returns how many."""
    queued = 0
    for start in range(0, len(events), chunk):
        n = push(list(events[start : start + chunk]))
        queued += n
        if progress:
            progress(n)
    return queued


def send(p: Plan, host: Host, destination_name: str | None = None, progress: Callable[[int], Any] | None = None) -> int:
    """Queue the plan's events into the Extole destination of the ``host`` (destinations/host.py)."""
    name = extole_destination(host.destinations(), destination_name).name
    return enqueue(segment_events(p), lambda chunk: host.enqueue(name, chunk), progress=progress)


def extole_destination(destinations: Sequence[Any], name: str | None = None) -> Any:
    """The configured Extole destination to use: ``name``, else the only one of type extole."""
    try:
        return destination_of_type(destinations, "extole", name or None)
    except LookupError as exc:
        raise BackfillError(str(exc.args[0])) from None


def parse_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """``--map email="Buyer Email"`` options as field -> column."""
    out: dict[str, str] = {}
    for pair in pairs:
        target, sep, column = pair.partition("=")
        if not sep or not target.strip() or not column.strip():
            raise BackfillError(f"--map takes FIELD=COLUMN, got {pair!r}")
        out[target.strip()] = column.strip()
    return out
