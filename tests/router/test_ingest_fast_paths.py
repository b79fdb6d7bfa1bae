"""Ingest's per-request and per-event shortcuts give exactly what their references give: the
common-case event loader, the strict ``_prepare`` that skips ``problems``' own pass, the
``received`` trace entries kept between requests, the CORS headers and the JSON answers."""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from typing import Any

import orjson
import pytest
from flask import jsonify
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from router.body import MAX_DEPTH
from router.intake import Intake, Rejection, _iso, iso
from router.schemas import _load_common, _load_fields, error_list, load_event, typed
from router.trace import received_entry
from tests.helpers import WRITE_KEY

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100")) * 3
TYPES = ["track", "identify", "page", "screen", "group", "alias", "delete"]


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` nine times in ten: most generated events pass, so the shortcuts are what is tested."""
    return st.integers(0, 9).flatmap(lambda n: bad if n == 0 else good)


stamps = mostly(st.sampled_from(["2026-12-01T12:00:00.000Z", "2026-12-01T12:00:00", "2026-12-01T12:00:00.120+02:00"]),
                st.sampled_from(["0001-01-01T00:00+01:00", " 2026-12-01T12:00:00Z ", "not a time", None, 5,
                                 "2026-12-01T12:00:00.123456789+00:00" + " " * 10]))
ids = mostly(st.sampled_from(["u-1", "user 2", "ü"]),
             st.one_of(st.sampled_from(["", " ", "\t", "x" * 101]), st.integers(-5, 5), st.none(), st.text(max_size=8)))
leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(allow_nan=False, allow_infinity=False),
                 st.text(max_size=6), st.sampled_from(["{[", "]}", "[[[["]))
nested = st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
                      max_leaves=12)


def deep(depth: int) -> Any:
    value: Any = "bottom"
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


containers = mostly(nested, st.one_of(st.integers(MAX_DEPTH - 3, MAX_DEPTH + 3).map(deep),
                                      st.integers(60, 70).map(lambda n: [{} for _ in range(n)])))
mappings = st.dictionaries(st.text(max_size=4), nested, max_size=3)
#: events that are mostly well formed (the shortcuts' case), with every kind of flaw now and then
events = st.fixed_dictionaries(
    {"type": mostly(st.sampled_from(TYPES), st.sampled_from(["Track", "", 3, None]))},
    optional={
        "messageId": mostly(st.sampled_from(["m-1", "m-2"]), st.one_of(st.sampled_from(["", "x" * 101, None]), st.integers(0, 3))),
        "userId": ids, "anonymousId": ids, "groupId": ids, "previousId": ids,
        "event": mostly(st.sampled_from(["Order Completed", "Viewed"]), st.one_of(st.sampled_from(["", "e" * 201, None]), st.integers(0, 2))),
        "name": mostly(st.one_of(st.none(), st.text(max_size=5)), st.integers(0, 2)),
        "timestamp": stamps, "originalTimestamp": stamps, "sentAt": stamps, "receivedAt": stamps,
        "context": mostly(mappings, st.sampled_from([[], None, [1], "c"])),
        "integrations": mostly(st.dictionaries(st.sampled_from(["All", "hook", "Webhook", "other"]), st.booleans(), max_size=3),
                               st.sampled_from([[], None, 1])),
        "traits": mostly(mappings, st.sampled_from([None, [], 1])),
        "properties": mostly(st.dictionaries(st.text(max_size=4), containers, max_size=3), st.sampled_from([None, "x", []])),
        "extra": containers, "zz": st.text(max_size=3),
    },
)


def loaded(load: Any, raw: dict[str, Any]) -> Any:
    try:
        event = load(raw)
    except ValidationError as exc:
        return "rejected", error_list(exc.messages)
    return "loaded", list(event.items())  # the order too: vendors see it


def reference_load(raw: dict[str, Any]) -> dict[str, Any]:
    """``load_event`` without its common-case loader."""
    return typed(_load_fields(raw))


@settings(max_examples=EXAMPLES, deadline=None, database=None)
@given(events)
def test_the_common_case_loader_loads_as_every_field_check_does(raw: dict[str, Any]) -> None:
    common = _load_common(raw)
    if common is not None:
        assert list(common.items()) == list(_load_fields(raw).items())
    assert loaded(load_event, raw) == loaded(reference_load, raw)


def test_the_common_case_loader_takes_a_realistic_event() -> None:
    from bench.run import track_event

    raw = orjson.loads(orjson.dumps(track_event("m-1")))
    assert _load_common(raw) is not None


@pytest.fixture
def intake(make_runtime) -> Intake:
    return Intake(make_runtime(destinations=[{"name": "hook", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/h"}},
                                             {"name": "only", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/o"},
                                              "events": {"only": ["Order Completed"]}}]))


def prepared(intake: Intake, raw: dict[str, Any], strict: bool) -> Any:
    received = datetime(2026, 12, 1, 12, 0, 1, 500000, tzinfo=timezone.utc)
    try:
        _, event, item = intake._prepare(raw, True, None, None, None, received, 1_796_126_401_500, iso(received), strict)
    except Rejection as exc:
        return "rejected", exc.errors
    except (ValueError, TypeError, KeyError, OverflowError, RecursionError) as exc:
        return "fault", type(exc).__name__
    if not raw.get("messageId"):  # a generated one: random
        event = {**event, "messageId": "generated"}
        env = {**orjson.loads(item[3]), "id": "generated", "e": event}
        if "g" in env:
            env["g"] = "del-generated"
        item = (b"generated", *item[1:3], orjson.dumps(env))
    return "ok", list(event.items()), item


@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events)
def test_a_strict_event_is_prepared_as_with_every_check_in_order(intake: Intake, raw: dict[str, Any]) -> None:
    strict = orjson.loads(orjson.dumps(raw))  # what parse_strict hands over
    # strict=False: problems walks the event first (the reference order of checks)
    assert prepared(intake, strict, True) == prepared(intake, strict, False)


@pytest.mark.parametrize("depth", [MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1])
@pytest.mark.parametrize("flaw", [{}, {"timestamp": "x"}])
def test_depth_is_still_checked_first(intake: Intake, depth: int, flaw: dict[str, str]) -> None:
    raw = {"type": "track", "userId": "u", "event": "e", "messageId": "m", "properties": {"p": deep(depth)}, **flaw}
    assert prepared(intake, raw, True) == prepared(intake, raw, False)
    outcome = prepared(intake, raw, True)
    too_deep = outcome[0] == "rejected" and outcome[1][0]["message"] == f"nested deeper than {MAX_DEPTH} levels"
    assert too_deep is (depth >= MAX_DEPTH)


@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(TYPES), st.one_of(st.none(), st.sampled_from(["Order Completed", "x", 'quo"te'])),
       st.one_of(st.none(), st.dictionaries(st.sampled_from(["All", "hook", "Webhook", "only"]), st.booleans(), max_size=3)),
       st.integers(0, 2**45), st.sampled_from(["bench", "web"]))
def test_kept_trace_entries_are_the_ones_trace_writes(intake: Intake, kind: str, name: Any, integrations: Any,
                                                     ms: int, source: str) -> None:
    event = {"type": kind, "userId": "u", "integrations": integrations or {}}
    if name is not None:
        event["event"] = name
    dests = [d.name for d in intake.rt.router.destinations_for(event)]
    for at in (ms, ms + 1):  # the second from the entries kept between requests
        assert intake._trace_entry(source, at, dests, event, {}) == \
            received_entry(source, at, dests, event, intake.rt.config.enabled_destinations)


def test_received_times_are_written_with_milliseconds_and_four_digit_years() -> None:
    assert _iso(datetime(2026, 12, 1, 12, 0, 1, 999999, tzinfo=timezone.utc)) == "2026-12-01T12:00:01.999Z"
    assert _iso(datetime(999, 1, 2, tzinfo=timezone.utc)) == iso(datetime(999, 1, 2, tzinfo=timezone.utc)) == "0999-01-02T00:00:00.000Z"


def test_a_single_calls_answer_is_what_jsonify_writes(make_runtime, client_for) -> None:
    rt = make_runtime(destinations=[])
    client = client_for(rt)
    r = client.post("/v1/track", json={"writeKey": WRITE_KEY, "type": "track", "userId": "u", "event": "E"})
    with client.application.app_context():
        ref = jsonify({"success": True})
    assert (r.status_code, r.get_data(), r.headers["Content-Type"]) == (200, ref.get_data(), ref.headers["Content-Type"])


def test_a_batch_of_realistic_events_is_answered_and_stored_as_before(make_runtime, client_for) -> None:
    from bench.run import track_event

    rt = make_runtime(destinations=[{"name": "hook", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/h"}}])
    client = client_for(rt)
    batch = [track_event(f"m-{i}") for i in range(3)] + [{"type": "track", "userId": "u"}]
    r = client.post("/v1/batch", data=orjson.dumps({"batch": batch}), headers={"Content-Type": "application/json"},
                    auth=(WRITE_KEY, ""))
    assert r.get_data() == (b'{"success":true,"accepted":3,"duplicates":0,"suppressed":0,"rejected":[{"index":3,'
                            b'"errors":[{"path":"event","message":"a track call needs an event name"}]}]}\n')
    stored = [json.loads(x) for x in rt.redis.lrange(rt.queue.keys.buf("hook"), 0, -1)]
    assert [e["e"]["messageId"] for e in stored] == ["m-m-0", "m-m-1", "m-m-2"]
    assert list(stored[0]["e"])[:4] == ["type", "messageId", "userId", "anonymousId"]


#: a time string of 40 characters whose JSON is 6 bytes a character but the few in the middle
PADDED_TIME = "\x1c" * 8 + "2026-12-01T12:00:00Z" + "\x1f" * 12


@pytest.mark.parametrize("pad", [None, PADDED_TIME])
@pytest.mark.parametrize("delta", [-1200, -1030, -1000, -970, -900, -40, -3, -2, -1, 0, 1, 2, 40])
def test_the_size_limit_is_still_checked_on_the_event_as_sent(intake: Intake, pad: str | None, delta: int) -> None:
    raw: dict[str, Any] = {"type": "track", "userId": "u", "event": "e", "messageId": "m", "properties": {"blob": ""}}
    if pad:
        raw.update(timestamp=pad, originalTimestamp=pad, sentAt=pad, receivedAt=pad)
    assert len(PADDED_TIME) == 40 and len(orjson.dumps(PADDED_TIME)) == 142
    raw["properties"]["blob"] = "x" * (32 * 1024 + delta - len(orjson.dumps(raw)))
    assert len(orjson.dumps(raw)) == 32 * 1024 + delta
    outcome = prepared(intake, raw, True)
    assert outcome == prepared(intake, raw, False)
    assert (outcome[0] == "rejected") is (delta > 0)
