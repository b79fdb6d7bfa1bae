"""``ordering: per_user``: one user's events reach a destination in the order received, through
retries, with several drain jobs at once; a failing user holds back only itself."""
from __future__ import annotations

import json
import random
import threading
import time
from collections import defaultdict
from typing import Any, Callable

import pytest

from router.delivery import Drainer
from router.errors import ConfigError
from router.ordering import Sequencer
from router.queue import Settlement, now_ms
from router.envelopes import user_hash
from router.runtime import Runtime
from router.scheduler import Scheduler
from tests.fakes.http import FakeServer, Reply, Request
from tests.helpers import webhook_destination, work

AUTH = {"Authorization": "Basic dGVzdC13cml0ZS1rZXk6"}  # base64("test-write-key:")


def event(user: int, seq: int, anonymous: bool = False) -> dict[str, Any]:
    who = {"anonymousId": f"anon-{user}"} if anonymous else {"userId": f"user-{user}"}
    return {"type": "track", "event": "Step", "messageId": f"m-{user}-{seq}", "properties": {"user": user, "seq": seq}, **who}


def send_rounds(client, users: int, per_user: int, anonymous_every: int = 0) -> int:
    """Every user's first event, then every user's second... so users interleave in the buffer."""
    events = [event(u, s, bool(anonymous_every) and u % anonymous_every == 0) for s in range(per_user) for u in range(users)]
    for i in range(0, len(events), 500):
        r = client.post("/v1/batch", json={"batch": events[i:i + 500]}, headers=AUTH)
        assert r.status_code == 200, r.get_json()
    return len(events)


class Vendor:
    """A fake webhook that answers each request with ``decide(events)`` and records, in the order
    it accepted them, the (user, seq) of the events it answered 200 for."""

    def __init__(self, decide: Callable[[list[dict[str, Any]]], Reply]) -> None:
        self.decide = decide
        self.accepted: list[tuple[int, int]] = []
        self.lock = threading.Lock()
        self.server = FakeServer(self.handle)

    def handle(self, req: Request) -> Reply:
        body = req.json()
        events = body if isinstance(body, list) else [body]
        with self.lock:
            reply = self.decide(events)
            if reply.status == 200:
                self.accepted += [(e["properties"]["user"], e["properties"]["seq"]) for e in events]
        return reply

    def per_user(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = defaultdict(list)
        for user, seq in self.accepted:
            out[user].append(seq)
        return out


def drain_concurrently(rt: Runtime, dest: str, done: Callable[[], bool], drainers: int = 3, limit: float = 60) -> None:
    """Several drain jobs of one destination at once (threads, each its own token and HTTP session),
    and the scheduler moving due retries, until ``done()`` or ``limit`` seconds."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def drain(k: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                Drainer(rt, dest, f"t{k}-{n}").run()
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)
                return
            time.sleep(0.02)

    threads = [threading.Thread(target=drain, args=(k,), daemon=True) for k in range(drainers)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + limit
    try:
        while not done() and time.monotonic() < deadline and not errors:
            Scheduler(rt).tick()
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors


def settled(rt: Runtime, dest: str, total: int) -> Callable[[], bool]:
    def check() -> bool:
        d = rt.queue.depth(dest)
        return d.get("delivered", 0) + d["dead_letters"] >= total
    return check


def test_2000_users_get_their_events_in_order_through_500s_and_429s_with_three_drain_jobs(make_runtime, client_for):
    rng = random.Random(16)

    def decide(events: list[dict[str, Any]]) -> Reply:
        p = rng.random()
        if p < 0.15:
            return Reply(500, "down")
        if p < 0.25:
            return Reply(429, "slow down", headers={"Retry-After": "1"})
        return Reply(200, {})

    vendor = Vendor(decide)
    with vendor.server as hook:
        rt = make_runtime(destinations=[webhook_destination(
            hook.base_url, settings={"batch": True}, batch_size=100, ordering="per_user", concurrency=3)])
        total = send_rounds(client_for(rt), 2000, 5, anonymous_every=10)
        drain_concurrently(rt, "hook", settled(rt, "hook", total))
        got = vendor.per_user()
        assert {u: got[u] for u in range(2000) if got[u] != list(range(5))} == {}
        depth = rt.queue.depth("hook")
        assert depth["delivered"] == total and depth["dead_letters"] == 0 and depth["retried"] > 0
        assert rt.queue.held("hook") == {"busy_users": 0, "ready_users": 0}
        sizes = [len(r.json()) for r in hook.requests]
        assert max(sizes) == 100  # batches still form, several users in each


def test_a_failing_user_holds_back_only_its_own_later_events(make_runtime, client_for):
    state = {"stuck": "fail"}

    def decide(events: list[dict[str, Any]]) -> Reply:
        (e,) = events
        if e["properties"]["user"] == 7:
            if state["stuck"] == "fail" or (state["stuck"] == "reject-first" and e["properties"]["seq"] == 0):
                return Reply(500, "down") if state["stuck"] == "fail" else Reply(400, "no such customer")
        return Reply(200, {})

    vendor = Vendor(decide)
    with vendor.server as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, batch_size=50, ordering="per_user")])
        total = send_rounds(client_for(rt), 40, 5)
        drain_concurrently(rt, "hook", settled(rt, "hook", total - 5), drainers=2)
        got = vendor.per_user()
        assert all(got[u] == list(range(5)) for u in range(40) if u != 7)
        assert got[7] == []
        # its first event waits for a retry (or, when due, heads its list); the rest wait behind it
        retrying = [json.loads(x)["e"]["messageId"] for x in rt.redis.zrange(rt.queue.keys.retry("hook"), 0, -1)]
        assert retrying + held_ids(rt, user_hash("user-7")) == [f"m-7-{s}" for s in range(5)]
        assert rt.queue.depth("hook")["ordered_users"] == 1

        state["stuck"] = "reject-first"
        drain_concurrently(rt, "hook", settled(rt, "hook", total), drainers=2)
        assert vendor.per_user()[7] == [1, 2, 3, 4]
        ((_, dead),) = rt.queue.dead_letters("hook")
        assert dead["event"]["messageId"] == "m-7-0" and dead["reason"] == "webhook answered 400"
        assert dead["held_back"] == 4  # its 4 later events waited behind it and then went on


def test_per_event_failures_rejections_and_429s_keep_each_users_order(make_runtime, client_for):
    rng = random.Random(7)
    rejected = {(u, 2) for u in range(0, 200, 25)}  # some events the vendor refuses for good

    def decide(events: list[dict[str, Any]]) -> Reply:
        (e,) = events
        if (e["properties"]["user"], e["properties"]["seq"]) in rejected:
            return Reply(422, "invalid")
        p = rng.random()
        if p < 0.04:
            return Reply(500, "down")
        if p < 0.06:
            return Reply(429, "slow down", headers={"Retry-After": "1"})
        return Reply(200, {})

    vendor = Vendor(decide)
    with vendor.server:
        rt = make_runtime(destinations=[webhook_destination(vendor.server.base_url, batch_size=40, ordering="per_user")])
        total = send_rounds(client_for(rt), 200, 5, anonymous_every=3)
        drain_concurrently(rt, "hook", settled(rt, "hook", total))
        got = vendor.per_user()
        expected = {u: [s for s in range(5) if (u, s) not in rejected] for u in range(200)}
        assert {u: got[u] for u in range(200) if got[u] != expected[u]} == {}
        dead = sorted((d["event"]["properties"]["user"], d["event"]["properties"]["seq"]) for _, d in rt.queue.dead_letters("hook"))
        assert dead == sorted(rejected)
        assert all("held_back" in d for _, d in rt.queue.dead_letters("hook"))


def test_unordered_destinations_keep_todays_envelopes_and_scripts(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client_for(rt).post("/v1/batch", json={"batch": [event(1, 0), event(2, 0, anonymous=True)]}, headers=AUTH)
        raw = rt.redis.lrange(rt.queue.keys.buf("hook"), 0, -1)
        assert raw[0].startswith(b'{"u":"%s","r":' % user_hash("user-1").encode())
        assert raw[1].startswith(b'{"u":"","o":"%s","r":' % user_hash("anon:anon-2").encode())
        work(rt)
        assert len(hook.requests) == 2 and not rt.redis.exists(rt.queue.keys.busy("hook"))
        assert "ordered_users" not in rt.queue.depth("hook")


def test_a_user_with_thousands_of_waiting_events_does_not_stall_a_claim(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, settings={"batch": True}, batch_size=10, ordering="per_user")])
        busy = [event(1, s) for s in range(3000)]
        client = client_for(rt)
        for i in range(0, 3000, 500):
            client.post("/v1/batch", json={"batch": busy[i:i + 500]}, headers=AUTH)
        client.post("/v1/batch", json={"batch": [event(2, 0)]}, headers=AUTH)
        first = rt.queue.claim("hook", "t", "b1", 10, 1, ordered=True)
        assert len(first.items) == 10  # the user's oldest 10 (PER_USER caps more)
        looked = 0
        while True:
            c = rt.queue.claim("hook", "t", f"b{looked + 2}", 10, 1, ordered=True)
            looked += 1
            if c.items:
                break
            assert c.more and looked < 100  # each claim looks at a bounded part of the buffer
        assert [json.loads(x)["e"]["messageId"] for x in c.items] == ["m-2-0"]
        assert rt.redis.llen(rt.queue.keys.held("hook", user_hash("user-1"))) == 2990


def hold_user(rt: Runtime, client) -> str:
    """user-1's first event claimed (batch b1), its two later ones held behind it; returns its hash."""
    r = client.post("/v1/batch", json={"batch": [event(1, s) for s in range(3)]}, headers=AUTH)
    assert r.status_code == 200
    first = rt.queue.claim("hook", "t", "b1", 1, 1, ordered=True)
    assert [json.loads(x)["e"]["messageId"] for x in first.items] == ["m-1-0"]
    assert rt.queue.claim("hook", "t", "b2", 1, 1, ordered=True).items == []
    return user_hash("user-1")


def held_ids(rt: Runtime, user: str) -> list[str]:
    return [json.loads(x)["e"]["messageId"] for x in rt.redis.lrange(rt.queue.keys.held("hook", user), 0, -1)]


def test_a_batch_given_back_goes_ahead_of_its_users_held_events(make_runtime, client_for):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/", ordering="per_user")])
    user = hold_user(rt, client_for(rt))
    assert held_ids(rt, user) == ["m-1-1", "m-1-2"]
    assert rt.queue.give_back("hook", "b1", ordered=True) == 1
    assert held_ids(rt, user) == ["m-1-0", "m-1-1", "m-1-2"]
    assert rt.queue.held("hook") == {"busy_users": 0, "ready_users": 1}
    again = rt.queue.claim("hook", "t", "b3", 10, 1, ordered=True)
    assert [json.loads(x)["e"]["messageId"] for x in again.items] == ["m-1-0", "m-1-1", "m-1-2"]


def test_a_gdpr_purge_removes_a_users_held_events_and_busy_mark(make_runtime, client_for):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/", ordering="per_user")])
    user = hold_user(rt, client_for(rt))
    assert rt.queue.purge_users("hook", [user]) == 3  # the one in flight and the two held
    assert not rt.redis.exists(rt.queue.keys.held("hook", user))
    assert rt.queue.held("hook") == {"busy_users": 0, "ready_users": 0}


def test_a_destination_switched_back_to_unordered_gets_its_held_events_back(make_runtime, client_for):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/", ordering="per_user")])
    user = hold_user(rt, client_for(rt))
    assert rt.queue.unhold("hook") == 2
    assert [json.loads(x)["e"]["messageId"] for x in rt.redis.lrange(rt.queue.keys.buf("hook"), 0, -1)] == ["m-1-1", "m-1-2"]
    assert held_ids(rt, user) == [] and rt.queue.held("hook") == {"busy_users": 0, "ready_users": 0}


def test_ordering_takes_only_none_or_per_user(make_runtime):
    with pytest.raises(ConfigError) as err:
        make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/", ordering="per_session")])
    assert str(err.value) == "destinations[0].ordering: Must be one of: none, per_user."


def test_users_with_long_backlogs_do_not_starve_a_newcomer(make_runtime, client_for):
    vendor = Vendor(lambda events: Reply(200, {}))
    with vendor.server as hook:
        rt = make_runtime(destinations=[webhook_destination(
            hook.base_url, settings={"batch": True}, batch_size=100, ordering="per_user")])
        client = client_for(rt)
        total = send_rounds(client, 8, 400)  # 8 users with 400 events each, interleaved
        assert len(rt.queue.claim("hook", "t", "first", 100, 1, ordered=True).items) == 100
        for k in range(20):  # while that batch is out, every later event of theirs is held
            if not rt.queue.claim("hook", "t", f"b{k}", 100, 1, ordered=True).more:
                break
        assert rt.redis.llen(rt.queue.keys.buf("hook")) == 0
        assert client.post("/v1/batch", json={"batch": [event(99, 0)]}, headers=AUTH).status_code == 200
        rt.queue.give_back("hook", "first", ordered=True)  # 8 users ready, with 400 events each
        drain_concurrently(rt, "hook", settled(rt, "hook", total + 1), drainers=1)
        assert all(seqs == list(range(400)) for u, seqs in vendor.per_user().items() if u != 99)
        assert vendor.accepted.index((99, 0)) < 100  # in the first batch, not behind 3,200 held events


def test_a_batch_settling_after_a_purge_does_not_free_its_user_from_a_newer_batch(make_runtime, client_for):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/", ordering="per_user")])
    client = client_for(rt)
    user = hold_user(rt, client)  # b1 is at the vendor with m-1-0
    rt.queue.mark_forgotten([user], now_ms() - 1000)  # deleted while b1 was out
    rt.queue.purge_users("hook", [user])
    r = client.post("/v1/batch", json={"batch": [event(1, 3), event(1, 4)]}, headers=AUTH)  # sent after the delete
    assert r.status_code == 200
    assert [json.loads(x)["e"]["messageId"] for x in rt.queue.claim("hook", "t", "b3", 1, 1, ordered=True).items] == ["m-1-3"]
    assert rt.queue.settle("hook", "b1", Sequencer([{"u": user}]).done(Settlement()), 3600)
    # m-1-4 waits until b3 (m-1-3) is settled: b1's late settle is not the user's to release
    assert rt.queue.claim("hook", "t", "b4", 1, 1, ordered=True).items == []


def test_a_user_deleted_earlier_who_sends_again_keeps_their_order_through_a_retry(make_runtime, client_for):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/", ordering="per_user")])
    rt.queue.mark_forgotten([user_hash("user-1")], now_ms() - 1000)  # a GDPR delete a moment ago
    user = hold_user(rt, client_for(rt))  # the user's new events: m-1-0 in b1, m-1-1 and m-1-2 held
    raw = rt.redis.lrange(f"{rt.queue.ns}:batch:hook:b1", 0, -1)[0].decode()
    env, s = json.loads(raw), Settlement()
    order = Sequencer([env])
    before = Sequencer.mark(s)
    s.retry.append((now_ms() + 60_000, raw))  # m-1-0 failed: its retry is stored (received after the delete)
    order.note(env, s, before)
    assert rt.queue.settle("hook", "b1", order.done(s), 3600)
    assert rt.redis.zcard(rt.queue.keys.retry("hook")) == 1
    assert rt.queue.claim("hook", "t", "b3", 10, 1, ordered=True).items == []  # m-1-1 waits for m-1-0's retry
    assert held_ids(rt, user) == ["m-1-1", "m-1-2"]
