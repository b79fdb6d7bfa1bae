"""Ingest's fast paths give exactly the answers of their references: ``load_event`` those of
marshmallow's ``EventSchema``, ``parse_strict`` (orjson) those of ``parse`` (json)."""
from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from router.body import BadRequest, parse, parse_strict, problems
from router.schemas import EventSchema, error_list, load_event

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100")) * 3
FIELDS = ["type", "messageId", "userId", "anonymousId", "timestamp", "originalTimestamp", "sentAt", "receivedAt",
          "context", "integrations", "traits", "properties", "event", "name", "groupId", "previousId", "extra"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", " ", "track", "identify", "page", "screen", "group", "alias", "delete", "Track", "u-1",
                     "2024-05-01T12:00:00Z", "2024-05-01T12:00:00", "0001-01-01T00:00+01:00", "9999-12-31T23:59:59-01:00",
                     "yesterday", "x" * 101, "e" * 201]),
    st.text(max_size=30),
)
values = st.one_of(scalars, st.just([]), st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=5), scalars, max_size=3))
events = st.dictionaries(st.sampled_from(FIELDS), values, max_size=10)


def outcome(load: Any, raw: dict[str, Any]) -> Any:
    try:
        return "loaded", load(raw)
    except ValidationError as exc:
        return "rejected", error_list(exc.messages)


@settings(max_examples=EXAMPLES, deadline=None, database=None)
@given(events)
def test_the_lean_loader_loads_and_rejects_every_event_as_the_marshmallow_schema_does(raw: dict[str, Any]) -> None:
    assert outcome(load_event, raw) == outcome(EventSchema().load, raw)


@pytest.mark.parametrize("raw", [
    {"type": "track", "userId": "u", "event": "e", "properties": {"a": 1}, "context": None, "integrations": [], "k": [1]},
    {"userId": 5, "event": ""},
    {"type": "delete"},
    {"type": "alias", "anonymousId": "a"},
    {"type": "group", "userId": "u", "groupId": None},
    {"type": 3, "messageId": "", "timestamp": "nope", "traits": [], "name": 1},
])
def test_the_lean_loader_answers_known_cases_like_the_schema(raw: dict[str, Any]) -> None:
    assert outcome(load_event, raw) == outcome(EventSchema().load, raw)


def test_the_loaded_event_lists_the_spec_fields_first_in_the_schema_order() -> None:
    raw = {"userId": "u1", "event": "Order Completed", "extra": 1, "properties": {}, "type": "track"}
    assert list(load_event(raw)) == ["type", "userId", "properties", "event", "extra"]


def parsed(parser: Any, raw: bytes) -> Any:
    try:
        value = parser(raw)
    except BadRequest as exc:
        return "bad", exc.status, exc.errors
    return "ok", json.dumps(value, sort_keys=True, default=repr), problems(value)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(), st.text()),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=EXAMPLES, deadline=None, database=None)
@given(json_values)
def test_the_fast_parser_reads_every_document_as_json_does(value: Any) -> None:
    raw = json.dumps(value).encode()  # NaN, Infinity and big integers included
    assert parsed(lambda b: parse_strict(b)[0], raw) == parsed(parse, raw)


@pytest.mark.parametrize("raw", [
    b'{"n": 18446744073709551616}', b'{"n": -9223372036854775809}', b'{"n": 1e400}', b'{"n": NaN}',
    b'{"s": "\\ud800"}', b'{"s": "\xff"}', b"", b"  ", b"[1,]", b"\xef\xbb\xbf{}", '{"a": 1}'.encode("utf-16"),
    b"[" * 2000 + b"]" * 2000, b'{"id": 12345678901234567890123}',
])
def test_the_fast_parser_answers_bad_and_odd_bodies_as_json_does(raw: bytes) -> None:
    assert parsed(lambda b: parse_strict(b)[0], raw) == parsed(parse, raw)


def test_only_what_orjson_parsed_is_marked_strict() -> None:
    assert parse_strict(b'{"a": [1, "x"]}') == ({"a": [1, "x"]}, True)
    assert parse_strict(b'{"a": NaN}')[1] is False
    assert parse_strict(b'{"a": "\\udc00"}')[1] is False
    assert parse_strict(b'{"a": 1234567890123456789}')[1] is False
