"""Mappings as data: a target field takes the first non-empty value among
several source paths of the Segment event.

    IDENTIFY = {
        "email": ("traits.email", "context.traits.email"),
        "first_name": ("traits.firstName", "traits.first_name"),
    }
    body = pick(event, IDENTIFY)
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

MISSING: Any = object()

FieldTable = Mapping[str, Sequence[str]]


def get_path(event: Mapping[str, Any], path: str, default: Any = MISSING) -> Any:
    """The value at a dotted path (``context.traits.email``), or ``default``."""
    node: Any = event
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return default
    return node


def is_empty(value: Any) -> bool:
    return value is MISSING or value is None or value == "" or value == [] or value == {}


def first(event: Mapping[str, Any], paths: Iterable[str], default: Any = None) -> Any:
    """The first non-empty value among ``paths``, else ``default``."""
    for path in paths:
        value = get_path(event, path)
        if not is_empty(value):
            return value
    return default


def first_present(event: Mapping[str, Any], paths: Iterable[str]) -> Any:
    """Like :func:`first`, but an explicit ``null`` counts (for vendors where null clears a field).

    Returns MISSING when no path is present at all.
    """
    for path in paths:
        value = get_path(event, path)
        if value is not MISSING and value != "":
            return value
    return MISSING


def pick(event: Mapping[str, Any], table: FieldTable) -> dict[str, Any]:
    """Apply a field table; fields with no value are left out."""
    out: dict[str, Any] = {}
    for target, paths in table.items():
        value = first(event, paths)
        if value is not None:
            out[target] = value
    return out


def source_keys(table: FieldTable, prefix: str) -> set[str]:
    """The keys under ``prefix`` (e.g. "traits") that a table already maps, so
    callers can pass the remaining ones along as extra parameters."""
    dotted = prefix + "."
    return {p[len(dotted):].split(".")[0] for paths in table.values() for p in paths if p.startswith(dotted)}


def traits(event: Mapping[str, Any]) -> dict[str, Any]:
    """The user's traits: ``traits`` for identify, else ``context.traits`` (Segment puts them there on track)."""
    merged: dict[str, Any] = {}
    ctx = get_path(event, "context.traits", {})
    if isinstance(ctx, Mapping):
        merged.update(ctx)
    own = event.get("traits")
    if isinstance(own, Mapping):
        merged.update(own)
    return merged
