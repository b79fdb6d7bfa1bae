"""Request bodies as JSON, whatever bytes arrive.

Everything here turns bad input into a ``BadRequest`` (a 4xx with a reason) or
into a list of per-value problems, never into an exception the app does not
expect: the body is decoded (gzip, any case of the header), parsed with
Python's limits turned into answers (nesting, giant integers), and each event
is walked once, without recursion, for what JSON parsers accept but no vendor
or Redis can take (NaN and Infinity, lone UTF-16 surrogates, deep nesting).
"""
from __future__ import annotations

import json
import math
import zlib
from typing import Any, Iterator

import orjson

#: nesting an event may have (``{"properties": {"a": [...]}}`` is 3); far beyond any real event
MAX_DEPTH = 64
#: integer literals longer than this parse to a float (inf when huge), which ``problems`` rejects:
#: Python refuses to parse integers over 4300 digits, and that must cost one event, not the request
_MAX_INT_DIGITS = 400
_IDENTITY = {"", "identity"}
_GZIP = {"gzip", "x-gzip"}
#: members of one gzip body: a few where files were joined; thousands of empty ones are a cost, not data
MAX_GZIP_MEMBERS = 64
_BOM = b"\xef\xbb\xbf"


class BadRequest(Exception):
    """The whole request can't be used: answered with ``status`` and a JSON reason."""

    def __init__(self, status: int, message: str, path: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.errors = [{"path": path, "message": message}]


def decode(raw: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body as sent before compression; ``Content-Encoding`` is case-insensitive (RFC 9110)."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in _IDENTITY:
        return raw
    if encoding not in _GZIP:
        raise BadRequest(415, f"unsupported Content-Encoding {encoding[:40]!r}; send gzip or no encoding", "Content-Encoding")
    out, rest = b"", raw
    for _ in range(MAX_GZIP_MEMBERS):  # a gzip body may be several members, one after the other (RFC 1952)
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += inflater.decompress(rest, limit + 1 - len(out))
        except zlib.error:
            raise BadRequest(400, "body is not valid gzip", "Content-Encoding") from None
        if len(out) > limit:  # over the limit: the caller says so (413), whatever follows
            return out
        if not inflater.eof:
            raise BadRequest(400, "body is not valid gzip (the stream is truncated)", "Content-Encoding")
        rest = inflater.unused_data
        if not rest:
            return out
    raise BadRequest(400, f"body has more than {MAX_GZIP_MEMBERS} gzip members", "Content-Encoding")


def _parse_int(text: str) -> int | float:
    return int(text) if len(text) <= _MAX_INT_DIGITS else float(text)


def parse(raw: bytes) -> Any:
    """JSON from bytes (UTF-8, with or without a BOM; UTF-16/32 as json detects them)."""
    if raw.startswith(_BOM):
        raw = raw[len(_BOM):]
    if not raw.strip():
        raise BadRequest(400, "request body is empty")
    try:
        return json.loads(raw, parse_int=_parse_int)
    except RecursionError:
        raise BadRequest(400, f"body is nested too deeply (the limit is {MAX_DEPTH} levels per event)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(400, f"body is not valid JSON: {exc}") from None


#: a run of 19+ digits may be an integer orjson would turn into a float (beyond 64 bits); json keeps it
#: exact. Found as 19 zeros in the body with digits mapped to "0" and the rest to " " (C speed; a regex isn't)
_DIGITS_TO_ZERO = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))
_LONG_DIGITS = b"0" * 19


def long_digits(raw: bytes) -> bool:
    """Whether ``raw`` has a run of 19+ digits: an integer orjson could read differently from json
    (beyond 64 bits), so json must read it."""
    return _LONG_DIGITS in raw.translate(_DIGITS_TO_ZERO)


def parse_strict(raw: bytes) -> tuple[Any, bool]:
    """``parse``, fast: (value, strict). orjson first; ``strict`` says it parsed the body, so no
    value is NaN/Infinity or holds a lone surrogate (orjson refuses those). Whatever orjson refuses
    or might read differently (long digit runs) goes through ``parse``, whose answers stay the
    reference: the same values, rejections and messages as before orjson."""
    if raw.startswith(_BOM):
        raw = raw[len(_BOM):]
    if not long_digits(raw):
        try:
            return orjson.loads(raw), True
        except orjson.JSONDecodeError:
            pass
    return parse(raw), False


def loads(raw: bytes) -> Any:
    """Trusted JSON (what the router stored itself), fast: orjson, or json where orjson would read
    a value differently (an integer beyond 64 bits) or refuses it."""
    if not long_digits(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)


def _walk(value: Any) -> Iterator[tuple[str, Any, int, bool]]:
    """(path, value, depth, is_key) for every value and key, depth first, without recursion."""
    stack: list[tuple[str, Any, int]] = [("", value, 0)]
    while stack:
        path, node, depth = stack.pop()
        yield path, node, depth, False
        if isinstance(node, dict):
            for key, child in node.items():
                sub = f"{path}.{key}" if path else str(key)
                yield sub, key, depth + 1, True
                stack.append((sub, child, depth + 1))
        elif isinstance(node, list):
            for i, child in enumerate(node):
                stack.append((f"{path}[{i}]", child, depth + 1))


def _printable(path: str) -> str:
    """A path safe to show and store: lone surrogates escaped."""
    return path.encode("utf-8", "backslashreplace").decode("utf-8")


def _too_deep(value: Any, max_depth: int) -> str | None:
    """The path of the first container nested deeper than ``max_depth``. Looks at containers only,
    and builds paths only when there is one to report (the common case is a few small dicts)."""
    if _within(value, max_depth):
        return None
    level = [value] if isinstance(value, (dict, list)) else []
    depth = 0
    while level:  # breadth first, one list per level
        if depth > max_depth:
            break
        nxt = []
        for node in level:
            for child in node.values() if isinstance(node, dict) else node:
                if isinstance(child, (dict, list)):
                    nxt.append(child)
        level, depth = nxt, depth + 1
    else:
        return None
    for path, _, depth, is_key in _walk(value):
        if depth > max_depth and not is_key:
            return path
    return None  # unreachable: the walk sees what the first pass saw


def _within(node: Any, budget: int) -> bool:
    """Whether no container under ``node`` is more than ``budget`` levels below it (recursion is
    bounded by ``budget``; the fast common case of ``_too_deep``)."""
    if not isinstance(node, (dict, list)):
        return True
    for child in node.values() if isinstance(node, dict) else node:
        if isinstance(child, (dict, list)) and (budget == 0 or not _within(child, budget - 1)):
            return False
    return True


def _few_containers(value: Any, max_depth: int) -> bool:
    """Whether ``value`` has too few containers to nest deeper than ``max_depth``: its JSON has at
    most max_depth + 1 opening brackets (brackets inside strings only raise the count). Counted at
    C speed; walking the containers in Python cost more than the rest of an event's checks."""
    try:
        text = orjson.dumps(value)
    except orjson.JSONEncodeError:
        return False
    return text.count(b"{") + text.count(b"[") <= max_depth + 1


def problems(value: Any, max_depth: int = MAX_DEPTH, strict: bool = False) -> list[dict[str, str]]:
    """What makes a parsed JSON value unusable, as ``[{"path", "message"}]`` (at most one per path).
    ``strict``: the value came from ``parse_strict``'s orjson, so only its depth can be wrong."""
    if strict and _few_containers(value, max_depth):
        return []
    deep = _too_deep(value, max_depth)
    if deep is not None:
        return [{"path": _printable(deep), "message": f"nested deeper than {max_depth} levels"}]
    if strict or _strict(value):  # the common case, at C speed
        return []
    found: list[dict[str, str]] = []
    seen: set[str] = set()

    def add(path: str, message: str) -> None:
        path = _printable(path)
        if path not in seen:
            seen.add(path)
            found.append({"path": path, "message": message})

    for path, node, _, is_key in _walk(value):
        if isinstance(node, float) and not math.isfinite(node):
            add(path, "must be a finite number (NaN, Infinity and numbers beyond 1e308 are not JSON)")
        elif isinstance(node, str) and not encodable(node):
            add(path, "key contains a lone UTF-16 surrogate (not valid Unicode)" if is_key
                else "contains a lone UTF-16 surrogate (not valid Unicode)")
    return found or [{"path": "", "message": "not representable as strict UTF-8 JSON"}]


def _strict(value: Any) -> bool:
    """Whether ``value`` writes as strict JSON in UTF-8: no NaN/Infinity, no lone surrogate."""
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except ValueError:  # UnicodeEncodeError included
        return False
    return True


def encodable(text: str) -> bool:
    """Whether ``text`` is valid Unicode (no lone surrogate), as UTF-8 and Redis need."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def size(value: Any) -> int:
    """Bytes of a value as compact UTF-8 JSON (how the 32 KB event limit is measured)."""
    try:
        return len(orjson.dumps(value))
    except orjson.JSONEncodeError:  # lone surrogates, integers beyond 64 bits, nesting past 255
        pass
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"))


def json_object(raw: bytes, *, empty_ok: bool = False) -> dict[str, Any]:
    """An operator-API body: a JSON object without unusable values (``{}`` for no body when ``empty_ok``)."""
    if empty_ok and not raw.strip():
        return {}
    value = parse(raw)
    if not isinstance(value, dict):
        raise BadRequest(400, "body must be a JSON object")
    found = problems(value)
    if found:
        raise BadRequest(400, found[0]["message"], found[0]["path"])
    return value
