"""The backfill's input: a CSV or JSON-lines export read row by row (UTF-8, with its row numbers),
and its columns matched to Extole's fields (common export names, or ``--map``)."""
from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping


#: column names of common exports (Shopify, WooCommerce, Magento, plain CRMs), compared after normalize()
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "email": ("email", "email_address", "customer_email", "e_mail", "billing_email"),
    "partner_user_id": ("partner_user_id", "customer_id", "user_id", "userid", "customer_number", "external_id"),
    "first_name": ("first_name", "firstname", "given_name", "billing_first_name"),
    "last_name": ("last_name", "lastname", "surname", "family_name", "billing_last_name"),
    "partner_conversion_id": ("partner_conversion_id", "order_id", "order_number", "order_no", "transaction_id"),
    "cart_value": ("cart_value", "total", "order_total", "grand_total", "total_price", "revenue", "amount"),
    "event_time": ("event_time", "date", "order_date", "created_at", "purchase_date", "paid_at", "timestamp"),
}
FIELDS = tuple(DEFAULT_COLUMNS)
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson", ".json")
#: a CSV row's values past the header's columns (csv.DictReader's restkey), kept for the rejects file
EXTRA_VALUES = None


class BackfillError(Exception):
    """The input or the options can't be used at all (not one row's problem)."""


def normalize(column: str) -> str:
    """``"Customer ID"``, ``customerId`` -> ``customer_id``: how columns are matched to the defaults."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", column.strip())
    return re.sub(r"[^a-z0-9]+", "_", snake.lower()).strip("_")


def resolve_columns(
    header: Iterable[str], overrides: Mapping[str, str] | None = None, strict: bool = True
) -> dict[str, str]:
    """Which input column feeds each Extole field: ``overrides`` (field -> column) first, then the defaults.

    ``strict=False`` is for one JSON line, whose keys are only that line's: a mapped key it lacks
    is an empty field of that row, not a wrong mapping."""
    header = list(header)
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(FIELDS))
    if unknown:
        raise BackfillError(f"unknown field(s) in the column mapping: {', '.join(unknown)} (fields: {', '.join(FIELDS)})")
    by_norm: dict[str, str] = {}
    for column in header:
        by_norm.setdefault(normalize(column), column)
    resolved: dict[str, str] = {}
    for name in FIELDS:
        if name in overrides:
            column = overrides[name]
            if column not in header and normalize(column) not in by_norm:
                if not strict:
                    resolved[name] = column
                    continue
                raise BackfillError(f"column {column!r} for {name} is not in the input (columns: {', '.join(header)})")
            resolved[name] = column if column in header else by_norm[normalize(column)]
            continue
        for candidate in DEFAULT_COLUMNS[name]:
            if candidate in by_norm:
                resolved[name] = by_norm[candidate]
                break
    return resolved


# reading --------------------------------------------------------------------------------------------------


@dataclass
class Row:
    #: spreadsheet row for CSV (the header is row 1), line number for JSON lines
    number: int
    record: dict[str, Any]
    error: str = ""


def input_format(path: Path, fmt: str | None = None) -> str:
    if fmt:
        return fmt
    return "jsonl" if path.suffix.lower() in JSON_LINES_SUFFIXES else "csv"


def read_rows(path: Path, fmt: str) -> tuple[list[str], Iterator[Row]]:
    """The column names and the rows of a CSV (UTF-8, BOM allowed) or JSON lines file."""
    try:
        if fmt == "csv":
            header, rows = _read_csv(path)
        elif fmt == "jsonl":
            header, rows = [], _read_json_lines(path)
        else:
            raise BackfillError(f"unknown input format {fmt!r} (csv or jsonl)")
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None
    return header, _utf8_rows(path, rows)


def _utf8_rows(path: Path, rows: Iterator[Row]) -> Iterator[Row]:
    """The rows, with a file that is not UTF-8 a BackfillError rather than a traceback."""
    try:
        yield from rows
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> BackfillError:
    return BackfillError(f"{path} is not UTF-8 ({exc.reason}): save it as UTF-8 (a spreadsheet's \"CSV UTF-8\")")


def _read_csv(path: Path) -> tuple[list[str], Iterator[Row]]:
    handle = path.open(newline="", encoding="utf-8-sig")
    reader = csv.reader(handle)
    try:
        header = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as exc:
        handle.close()
        if isinstance(exc, UnicodeDecodeError):
            raise
        raise BackfillError(f"{path}: the header row is not valid CSV ({exc})") from None
    if not header:
        handle.close()
        raise BackfillError(f"{path} is empty: a header row is needed")

    def rows() -> Iterator[Row]:
        with handle:
            number = 1
            while True:
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:  # e.g. a field over csv.field_size_limit(): that row only
                    number += 1
                    yield Row(number, {}, f"is not valid CSV ({exc})")
                    continue
                number += 1
                if not any(values):
                    continue  # a blank line is not a row
                # with a duplicate column name the first one is kept, the one resolve_columns() chose
                record: dict[Any, Any] = {}
                for column, value in zip(header, values):
                    record.setdefault(column, value)
                if len(values) > len(header):
                    record[EXTRA_VALUES] = values[len(header):]
                if len(values) != len(header):
                    yield Row(number, record, f"has {len(values)} values for {len(header)} columns")
                else:
                    yield Row(number, record)

    return header, rows()


def _read_json_lines(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                yield Row(number, {"line": line.rstrip("\n")}, f"is not valid JSON ({exc.msg})")
                continue
            if not isinstance(record, dict):
                yield Row(number, {"line": line.rstrip("\n")}, "is not a JSON object")
                continue
            yield Row(number, record)
