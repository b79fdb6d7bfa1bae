"""INGEST writes a request's events in few commands (one RPUSH per destination, one to the trace
ring, one ZADD per user to their index): what it stores is what one write per event stored."""
from __future__ import annotations

import json
import time

from router.envelopes import user_hash
from router.timeseries import Series, ingest_totals
from router.trace import by_message, search, user_events

RECEIVED = json.dumps({"at": 1, "kind": "received", "to": ["a"]})


def items(n: int, *, dup_every: int = 7, users: int = 5) -> list[tuple[str, str, list[str], str]]:
    """``n`` events for destinations a, b or both; every ``dup_every``-th repeats an earlier messageId."""
    out = []
    for k in range(n):
        mid = f"m{k - 1}" if k and k % dup_every == 0 else f"m{k}"
        dests = [["a"], ["b"], ["a", "b"]][k % 3]
        out.append((mid, user_hash(f"user-{k % users}"), dests, json.dumps({"u": "", "k": k})))
    return out


def test_a_request_past_the_chunk_size_keeps_each_destinations_order_and_every_status(make_runtime):
    rt = make_runtime(destinations=[])
    q, sent = rt.queue, items(2500)
    rt.redis.sadd(q.keys.suppressed, user_hash("user-3"))
    statuses, wakes = q.ingest("web", sent, 60, [RECEIVED] * len(sent))

    expected, seen = [], set()
    for mid, uh, _, _ in sent:
        if uh == user_hash("user-3"):
            expected.append("suppressed")
        elif mid in seen:
            expected.append("duplicate")
        else:
            seen.add(mid)
            expected.append("accepted")
    assert statuses == expected
    for d in ("a", "b"):
        kept = [env for (_, _, dests, env), st in zip(sent, statuses) if st == "accepted" and d in dests]
        assert [x.decode() for x in rt.redis.lrange(q.keys.buf(d), 0, -1)] == kept
    assert sorted(d for d, _ in wakes) == ["a", "b"]
    counts, by_source = ingest_totals(rt.redis.hgetall(q.keys.ingest_stats))
    assert counts == by_source["web"] == {st: expected.count(st) for st in set(expected)}

    # one trace per messageId; a duplicate is noted in the trace it repeats
    traced = {mid for mid, *_ in sent}
    assert rt.redis.llen(f"{rt.config.namespace}:trring") == len(traced)
    (t,) = by_message(rt, ["m6"])
    assert [e["status"] for e in t["entries"]] == ["accepted", "duplicate"]
    # a user's index lists the messageIds of their newest 100 events (a duplicate's too: dedup is
    # per source, a trace per messageId), the suppressed user's none
    mine = [mid for mid, uh, _, _ in sent if uh == user_hash("user-1")][-100:]
    assert sorted(user_events(rt, user_hash("user-1"), 1000)) == sorted(set(mine))
    assert user_events(rt, user_hash("user-3"), 100) == []


def test_the_ring_drops_the_oldest_traces_in_one_step_and_a_user_keeps_their_newest_hundred(make_runtime, client_for):
    rt = make_runtime(destinations=[], trace={"max_events": 1200})
    q, sent = rt.queue, items(2500, dup_every=10**9, users=1)
    q.ingest("web", sent, 60, [RECEIVED] * len(sent))
    ns = rt.config.namespace
    assert rt.redis.llen(f"{ns}:trring") == 1200 and rt.redis.zcard(f"{ns}:tu:{user_hash('user-0')}") == 100
    assert not by_message(rt, ["m1299"]) and by_message(rt, ["m1300"])
    assert not rt.redis.exists(*[f"{ns}:trace:m{k}" for k in range(1300)])
    mids = user_events(rt, user_hash("user-0"), 100)
    assert mids == [f"m{k}" for k in range(2499, 2399, -1)]


def alice_before_and_after_the_window(rt, traced_after: bool = True) -> None:
    """alice's event "old", then, past its 0.2 s dedup window and in a new minute, her event "new"
    (with traces turned off first unless ``traced_after``)."""
    ns, q = rt.config.namespace, rt.queue
    q.ingest("web", [("old", user_hash("alice"), ["a"], "{}")], 0.2, [RECEIVED])
    time.sleep(0.3)
    for key in rt.redis.scan_iter(f"{ns}:m:s:*"):  # as when the minute turns
        rt.redis.delete(key)
    if not traced_after:
        q.trace_cap = 0
    q.ingest("web", [("new", user_hash("alice"), ["a"], "{}")], 0.2, [RECEIVED] if traced_after else None)


def test_a_users_index_lists_their_events_inside_the_dedup_window_and_the_ring_drops_older_entries(make_runtime):
    rt = make_runtime(destinations=[])
    ns = rt.config.namespace
    alice_before_and_after_the_window(rt)
    assert [m.decode().rsplit(":", 1)[1] for m in rt.redis.lrange(f"{ns}:trring", 0, -1)] == ["new"]
    assert user_events(rt, user_hash("alice"), 10) == ["new"]


def test_traces_kept_by_an_older_version_are_read_with_the_new_entries(make_runtime):
    """Older versions kept a trace as a list (at another key) and bare messageIds in the ring."""
    rt = make_runtime(destinations=[])
    ns, q, uh = rt.config.namespace, rt.queue, user_hash("alice")
    old = json.dumps({"at": 1, "kind": "received", "to": [], "status": "accepted"})
    rt.redis.rpush(f"{ns}:tr:old", old)
    rt.redis.pexpire(f"{ns}:tr:old", 60_000)
    rt.redis.zadd(f"{ns}:tu:{uh}", {"old": int(time.time() * 1000) - 1000})
    rt.redis.rpush(f"{ns}:trring", "old")

    q.ingest("web", [("old", "", ["a"], "{}"), ("new", uh, ["a"], "{}")], 60, [RECEIVED] * 2)
    (t,) = by_message(rt, ["old"])
    assert [e.get("status") for e in t["entries"]] == ["accepted", "accepted"]  # dedup is per source; noted
    assert [x["messageId"] for x in search(rt, user_id="alice")] == ["new", "old"]


def test_the_ring_drops_an_older_versions_trace_too(make_runtime):
    rt = make_runtime(destinations=[], trace={"max_events": 2})
    ns = rt.config.namespace
    rt.redis.rpush(f"{ns}:tr:old", json.dumps({"at": 1, "kind": "received", "to": [], "status": "accepted"}))
    rt.redis.rpush(f"{ns}:trring", "old")
    rt.queue.ingest("web", [("a", "", ["x"], "{}"), ("b", "", ["x"], "{}")], 60, [RECEIVED] * 2)
    assert not rt.redis.exists(f"{ns}:tr:old") and [t["messageId"] for t in by_message(rt, ["old", "a", "b"])] == ["a", "b"]


def test_a_settled_attempt_joins_the_trace_but_a_dropped_trace_stays_dropped(make_runtime, client_for):
    from tests.fakes.http import FakeServer
    from tests.helpers import WRITE_KEY, webhook_destination, work

    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        ns, client = rt.config.namespace, client_for(rt)
        for mid in ("kept", "dropped"):
            client.post("/v1/track", json={"writeKey": WRITE_KEY, "type": "track", "userId": "u", "event": "E", "messageId": mid})
        rt.redis.delete(f"{ns}:trace:dropped")
        work(rt)
        assert len(hook.requests) == 2
    assert not rt.redis.exists(f"{ns}:trace:dropped")
    (t,) = by_message(rt, ["kept"])
    assert [e["kind"] for e in t["entries"]] == ["received", "attempt"] and t["destinations"] == {"hook": "delivered"}


def test_with_traces_turned_off_the_ring_and_index_still_empty_past_the_dedup_window(make_runtime):
    rt = make_runtime(destinations=[])
    ns = rt.config.namespace
    alice_before_and_after_the_window(rt, traced_after=False)
    assert not rt.redis.exists(f"{ns}:tu:{user_hash('alice')}", f"{ns}:trring", f"{ns}:trace:new")


def test_ingest_totals_add_one_counter_per_status_to_older_versions_counters(make_runtime):
    """INGEST counts ``<source>|<status>`` once for both totals; what the intake and older versions
    counted (plain ``<status>`` fields, and ``ns:m:src:<source>``) is added in."""
    rt = make_runtime(destinations=[])
    ns, q = rt.config.namespace, rt.queue
    rt.redis.hset(q.keys.ingest_stats, mapping={"accepted": 5, "rejected": 2})
    rt.redis.hset(f"{ns}:m:src:web", mapping={"accepted": 5, "rejected": 2})
    q.ingest("web", [("a", "", ["x"], "{}"), ("a", "", ["x"], "{}")], 60, None)
    q.ingest("app", [("b", "", ["x"], "{}")], 60, None)
    totals, _ = ingest_totals(rt.redis.hgetall(q.keys.ingest_stats))
    assert totals == {"accepted": 7, "duplicate": 1, "rejected": 2}
    assert Series(rt.redis, ns).source_totals(["web", "app"]) == {
        "web": {"accepted": 6, "duplicate": 1, "rejected": 2}, "app": {"accepted": 1}}


def test_received_entries_are_kept_across_requests_only_for_small_client_values(make_runtime):
    from router.intake import _TRACE_KEY_BYTES, Intake

    rt = make_runtime(destinations=[])
    intake, source = Intake(rt), rt.config.sources[0]
    for n in range(20):
        big = {"Custom": {"blob": f"{n}-" + "x" * 100_000}}
        event = {"type": "track", "userId": "u", "event": "E", "messageId": f"big{n}"}
        assert intake.accept(source, [event], batch_integrations=big, strict=True).accepted == 1
    small = {"type": "track", "userId": "u", "event": "E", "messageId": "small", "integrations": {"X": True}}
    assert intake.accept(source, [small], strict=True).accepted == 1
    assert len(intake._trace_tails) == 1 and all(len(k[4]) <= _TRACE_KEY_BYTES for k in intake._trace_tails)
    (t,) = by_message(rt, ["big3"])
    assert t["entries"][0]["source"] == source.name



def test_a_settle_adds_its_attempts_to_every_trace_still_there_wherever_its_dropped_ones_are(make_runtime):
    from router.queue import Settlement

    rt = make_runtime(destinations=[])
    q, ns = rt.queue, rt.config.namespace
    for first_dropped in (False, True):
        mids = [f"{first_dropped}-{k}" for k in range(5)]
        q.ingest("web", [(m, "", ["a"], "{}") for m in mids], 60, [RECEIVED] * 5)
        dropped = [mids[0], mids[3]] if first_dropped else [mids[1], mids[3]]
        rt.redis.delete(*(f"{ns}:trace:{m}" for m in dropped))
        q.claim("a", "tok", f"b-{first_dropped}", 10, 1)
        settled = Settlement(trace={"ATTEMPT-1": mids[:3], "ATTEMPT-2": mids[3:]})
        assert q.settle("a", f"b-{first_dropped}", settled, 86400)
        kept = {m: rt.redis.get(f"{ns}:trace:{m}").split(b"\n")[-1] for m in mids if m not in dropped}
        assert kept == {m: b"ATTEMPT-1" if k < 3 else b"ATTEMPT-2" for k, m in enumerate(mids) if m not in dropped}
        assert all(0 < rt.redis.pttl(f"{ns}:trace:{m}") <= 60_000 for m in kept)
        assert not rt.redis.exists(*(f"{ns}:trace:{m}" for m in dropped))
