"""Reading Sticky Street's answers: XML (the default) or JSON (``output=JSON``).

    <response status="success"><batch status="imported"><customers><new>2</new><updated>1</updated>...
    <response status="error"><error>Error message</error></response>

The JSON shape is not published; this accepts ``{"response": {...}}`` or the
bare object, with ``status`` either as a key or under ``@attributes`` (what
PHP's json_encode of an XML element gives). Anything that is not one of these
answers is :class:`MalformedAnswer`: the caller can't know whether the call
was applied, so it must not count as a success.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

COUNTS = ("new", "updated")
#: the vendor's own success example leaves tags unclosed (<new>2<new>); with lenient parsing a body
#: whose <response status="..."> envelope is complete is read with these patterns instead
ENVELOPE = re.compile(
    r'^\s*(?:<\?xml[^>]*\?>\s*)?<response\s+status\s*=\s*["\'](?P<status>success|error)["\']\s*>(?P<inner>.*)</response>\s*$',
    re.DOTALL,
)
LOOSE_COUNT = r"<{}>\s*(\d+)\s*<"
LOOSE_ERROR = re.compile(r"<error>(?P<message>[^<]*)", re.DOTALL)


class MalformedAnswer(ValueError):
    """The body is not a Sticky Street answer."""


@dataclass
class Answer:
    ok: bool
    #: the vendor's error message(s), joined; empty on success
    error: str = ""
    #: the counts of a batch import ({"new": 2, "updated": 1}) when given
    counts: dict[str, int] = field(default_factory=dict)


def parse_answer(body: bytes | str, *, lenient_xml: bool = True) -> Answer:
    """The answer in ``body``, XML or JSON (told apart by the first character)."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    start = body.lstrip()[:1]
    if start in ("{", "["):
        return parse_json(body)
    if start == "<":
        return parse_xml(body, lenient=lenient_xml)
    raise MalformedAnswer("neither XML nor JSON" if body.strip() else "an empty body")


def parse_xml(body: str, *, lenient: bool = True) -> Answer:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        if lenient:
            loose = parse_loose_xml(body)
            if loose is not None:
                return loose
        raise MalformedAnswer(f"XML that does not parse ({exc})") from None
    if root.tag != "response" or root.get("status") not in ("success", "error"):
        raise MalformedAnswer(f'XML whose root is not <response status="success|error"> but <{root.tag}>')
    if root.get("status") == "error":
        messages = [" ".join("".join(e.itertext()).split()) for e in root.iter("error")]
        return Answer(False, "; ".join(m for m in messages if m))
    counts = {}
    for name in COUNTS:
        element = root.find(f".//{name}")
        if element is not None and (element.text or "").strip().isdigit():
            counts[name] = int(element.text.strip())
    return Answer(True, counts=counts)


def parse_loose_xml(body: str) -> Answer | None:
    """The doc's own style: a complete envelope (so not a cut-off body) with unclosed inner tags."""
    match = ENVELOPE.match(body)
    if not match:
        return None
    inner = match["inner"]
    if match["status"] == "error":
        messages = [" ".join(m["message"].split()) for m in LOOSE_ERROR.finditer(inner)]
        return Answer(False, "; ".join(m for m in messages if m))
    counts = {}
    for name in COUNTS:
        found = re.search(LOOSE_COUNT.format(name), inner)
        if found:
            counts[name] = int(found[1])
    return Answer(True, counts=counts)


def parse_json(body: str) -> Answer:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise MalformedAnswer(f"JSON that does not parse ({exc})") from None
    obj = data.get("response", data) if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise MalformedAnswer("JSON that is not an object")
    attributes = obj.get("@attributes")
    status = obj.get("status") or (attributes.get("status") if isinstance(attributes, dict) else None)
    if status == "error":
        return Answer(False, "; ".join(json_texts(obj.get("error"))))
    if status != "success":
        raise MalformedAnswer(f"JSON without status success or error (status: {status!r})")
    counts = {}
    for name in COUNTS:
        value = find_key(obj, name)
        if isinstance(value, int) and not isinstance(value, bool) or isinstance(value, str) and value.isdigit():
            counts[name] = int(value)
    return Answer(True, counts=counts)


def json_texts(value: Any) -> list[str]:
    """The error message(s) of a JSON answer: a string, a list of them, or {"#text"/"message": ...}."""
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, list):
        return [t for v in value for t in json_texts(v)]
    if isinstance(value, dict):
        return [t for key in ("message", "#text", "text") for t in json_texts(value.get(key))]
    return []


def find_key(obj: Any, key: str) -> Any:
    """The first value under ``key`` anywhere in nested dicts."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for value in obj.values():
            found = find_key(value, key)
            if found is not None:
                return found
    return None
