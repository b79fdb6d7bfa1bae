"""Customer rows -> customers_batch imports: headers, delimiter, profiles_data.

The vendor reads ``profiles_data`` as one line per customer, cells split by
the delimiter in the order of ``profiles_header_1..N``. Nothing escapes a
delimiter or a line break inside a value, so:

- a value with a line break can't be sent at all (the customer is refused);
- each import uses a delimiter none of its values contains, the configured
  one when it can; customers that can't share one go in separate imports
  (as few as can be), and one whose values contain all three is refused.

Columns: with ``overwrite_duplicates=update`` the vendor changes every column
it is given, so an empty cell would blank that field of an existing
customer. Rows are therefore imported in groups with exactly the same
columns: nobody sends a blank they didn't mean. With ``yes`` (the record is
blanked anyway) and ``ignore`` (existing customers are left alone) one import
takes the union of the columns, empty cells for what a row lacks.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

DELIMITER_CHARS = {"pipe": "|", "comma": ",", "tab": "\t"}
#: what a line-based reader may split on (\r and \n for PHP; the rest for Unicode-aware ones)
LINE_BREAK = re.compile("[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
#: columns in the order the vendor's doc lists them; custom_field_N follow by number
COLUMN_ORDER = (
    "code", "card_number", "first_name", "last_name", "email", "phone", "custom_date",
    "street1", "street2", "city", "state", "postal_code", "country", "auto_add",
)


def delimiter_order(preferred: str) -> tuple[str, ...]:
    """The configured delimiter first, then the others in the doc's order."""
    return (preferred,) + tuple(d for d in DELIMITER_CHARS if d != preferred)


def usable_delimiters(row: Mapping[str, str], order: Iterable[str] = DELIMITER_CHARS) -> list[str]:
    return [d for d in order if not any(DELIMITER_CHARS[d] in value for value in row.values())]


def row_problem(row: Mapping[str, str]) -> str | None:
    """Why this customer can't be put on a profiles_data line, or None."""
    for column, value in row.items():
        if LINE_BREAK.search(value):
            return f"{column} contains a line break, which would split the customer's profiles_data line"
    if not usable_delimiters(row):
        return "the customer's values contain a pipe, a comma and a tab: no delimiter can separate its columns"
    return None


def column_key(column: str) -> tuple[int, int]:
    if column in COLUMN_ORDER:
        return (0, COLUMN_ORDER.index(column))
    return (1, int(column.rsplit("_", 1)[1]))


@dataclass
class Import:
    """One customers_batch call: which batch items it carries and how."""

    indexes: list[int]
    rows: list[dict[str, str]]
    columns: list[str]
    delimiter: str

    def __len__(self) -> int:
        return len(self.rows)

    def halves(self) -> tuple["Import", "Import"]:
        mid = len(self.rows) // 2
        return (
            Import(self.indexes[:mid], self.rows[:mid], self.columns, self.delimiter),
            Import(self.indexes[mid:], self.rows[mid:], self.columns, self.delimiter),
        )


@dataclass
class Plan:
    imports: list[Import] = field(default_factory=list)
    #: batch index -> why that customer can't be imported
    refused: dict[int, str] = field(default_factory=dict)


def plan_imports(rows: Sequence[tuple[int, dict[str, str]]], *, delimiter: str, blank_is_change: bool) -> Plan:
    """Split (batch index, row) pairs into imports; see the module doc for the rules."""
    plan = Plan()
    groups: dict[tuple[str, ...], list[tuple[int, dict[str, str]]]] = {}
    for index, row in rows:
        problem = row_problem(row)
        if problem:
            plan.refused[index] = problem
            continue
        key = tuple(sorted(row, key=column_key)) if blank_is_change else ()
        groups.setdefault(key, []).append((index, row))
    order = delimiter_order(delimiter)
    for members in groups.values():
        columns = sorted({c for _, row in members for c in row}, key=column_key)
        # every member has at least one usable delimiter (row_problem above), so each pass takes someone
        usable = [(index, row, usable_delimiters(row, order)) for index, row in members]
        while usable:
            # the delimiter most of the remaining customers can use (all of them, usually); ties by preference
            d = max(order, key=lambda d: (sum(d in ds for _, _, ds in usable), -order.index(d)))
            fits = [(index, row) for index, row, ds in usable if d in ds]
            plan.imports.append(Import([i for i, _ in fits], [r for _, r in fits], columns, d))
            usable = [m for m in usable if d not in m[2]]
    return plan


def import_form(imp: Import, settings: Mapping[str, Any]) -> dict[str, str]:
    """The customers_batch parameters of one import, everything but the credentials."""
    form = {
        "type": "customers_batch",
        "delimiter": imp.delimiter,
        "overwrite_duplicates": settings["overwrite_duplicates"],
        "campaigns_to_include": ",".join(settings["campaigns_to_include"]),
    }
    if settings["card_number_generate"]:
        form["card_number_generate"] = str(settings["card_number_generate"])
    if settings["allow_undo"]:
        form["allow_undo"] = "yes"
    for n, column in enumerate(imp.columns, start=1):
        form[f"profiles_header_{n}"] = column
    sep = DELIMITER_CHARS[imp.delimiter]
    # the doc: an end-of-line at the end of each line
    form["profiles_data"] = "".join(sep.join(row.get(c, "") for c in imp.columns) + "\n" for row in imp.rows)
    return form
