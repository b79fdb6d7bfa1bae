"""A user deleted while their batch is at the vendor stays forgotten: what the batch settles for
them (a retry, a return to the buffer, a dead letter) is dropped, not stored again."""
from __future__ import annotations

import json

from router.queue import Settlement, now_ms
from router.envelopes import envelope, user_hash
from router.regulations import forget
from tests.helpers import webhook_destination


def test_a_batch_settled_after_its_user_was_deleted_stores_nothing_of_them(make_runtime):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")])
    alice, bob = user_hash("alice"), user_hash("bob")
    received = now_ms() - 1000
    envs = [envelope({"type": "track", "userId": u, "event": "E"}, f"id-{u}", received) for u in ("alice", "bob")]
    rt.queue.push("hook", envs)
    claimed = rt.queue.claim("hook", "tok", "b1", 10, 1)
    assert len(claimed.items) == 2
    forget(rt, [alice])  # the delete arrives while the batch is out
    s = Settlement()
    for env in envs:  # the vendor failed: one of each kind for both users
        s.retry.append((now_ms() + 60_000, env))
        s.front.append(env)
        s.dead.append(json.dumps({"id": "x", "u": json.loads(env)["u"], "r": received, "reason": "no"}, separators=(",", ":")))
    assert rt.queue.settle("hook", "b1", s, 86400)
    kept = [json.loads(x)["u"] for x in rt.redis.zrange(rt.queue.keys.retry("hook"), 0, -1)]
    kept += [json.loads(x)["u"] for x in rt.redis.lrange(rt.queue.keys.buf("hook"), 0, -1)]
    kept += [rec["u"] for _, rec in rt.queue.dead_letters("hook")]
    assert kept == [bob, bob, bob]


def test_events_a_deleted_user_sends_after_the_delete_are_kept(make_runtime):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")])
    forget(rt, [user_hash("alice")])
    later = envelope({"type": "track", "userId": "alice", "event": "Back"}, "id-later", now_ms() + 1000)
    rt.queue.push("hook", [later])
    rt.queue.claim("hook", "tok", "b1", 10, 1)
    s = Settlement()
    s.dead.append(json.dumps({"id": "later", "u": user_hash("alice"), "r": now_ms() + 1000, "reason": "no"},
                             separators=(",", ":")))
    assert rt.queue.settle("hook", "b1", s, 86400)
    assert [rec["id"] for _, rec in rt.queue.dead_letters("hook")] == ["later"]
