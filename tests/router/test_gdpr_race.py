"""A user deleted while their batch is at the vendor stays forgotten: what the batch settles for
them (a retry, a return to the buffer, a dead letter) is dropped, not stored again."""
from __future__ import annotations

import json

import pytest

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


# ns:forgetting: CLAIM looks a batch's users up only while a delete may be recorded ---------------
def older_event(user: str, ms_ago: int = 1000) -> str:
    """An event received before a delete and stored after its purge (the race the lookup covers)."""
    return envelope({"type": "track", "userId": user, "event": "E"}, f"id-{user}", now_ms() - ms_ago)


def mget_calls(rt) -> int:
    """MGETs Redis has run, a script's included (no other test runs beside this one)."""
    return int(rt.redis.info("commandstats").get("cmdstat_mget", {}).get("calls", 0))


def test_with_no_delete_recorded_a_claim_looks_no_user_up_and_the_drainer_asks_for_none(make_runtime):
    from router.delivery import Drainer

    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")])
    rt.queue.push("hook", [older_event("alice"), older_event("bob")])
    before = mget_calls(rt)
    claimed = rt.queue.claim("hook", "tok", "b1", 10, 1)
    kept = Drainer(rt, "hook", "tok").drop_forgotten([json.loads(x) for x in claimed.items], Settlement(), claimed)
    assert (claimed.clear, claimed.looked_up, claimed.forgotten) == (True, 0, {})
    assert [e["u"] for e in kept] == [user_hash("alice"), user_hash("bob")]
    assert mget_calls(rt) == before


def test_a_delete_recorded_before_the_claim_drops_the_users_older_events_from_the_batch(make_runtime):
    from router.delivery import Drainer

    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")])
    forget(rt, [user_hash("alice")])
    rt.queue.push("hook", [older_event("alice"), older_event("bob")])
    claimed = rt.queue.claim("hook", "tok", "b1", 10, 1)
    s = Settlement()
    kept = Drainer(rt, "hook", "tok").drop_forgotten([json.loads(x) for x in claimed.items], s, claimed)
    assert (claimed.clear, claimed.looked_up, list(claimed.forgotten)) == (False, 2, [user_hash("alice")])
    assert [e["u"] for e in kept] == [user_hash("bob")] and s.counts == {"forgotten": 1}


def test_each_delete_keeps_the_marker_at_least_as_long_as_its_users_keys(make_runtime):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")])
    keys = rt.queue.keys
    forget(rt, [user_hash("alice")])
    rt.redis.pexpire(keys.forgetting, 1000)  # as if alice's delete was nearly a day ago
    forget(rt, [user_hash("bob")])
    pipe = rt.redis.pipeline(transaction=True)  # read at one moment; the marker first
    pipe.pttl(keys.forgetting)
    pipe.pttl(keys.forgotten(user_hash("bob")))
    pipe.pttl(keys.forgotten(user_hash("alice")))
    marker, bob, alice = pipe.execute()
    assert marker >= bob >= alice > 1000


def test_a_delete_an_older_version_recorded_without_the_marker_still_wins_after_an_upgrade(make_runtime):
    from router.queue import DeliveryQueue
    from router.regulations import record_regulation

    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")])
    alice = user_hash("alice")
    # what an older version's delete left: its regulation record, then the user's key and no marker
    record_regulation(rt, "old-delete", "DELETE_ONLY", [alice], ["hook"], [])
    rt.redis.set(rt.queue.keys.forgotten(alice), now_ms(), ex=86400)
    rt.queue.push("hook", [older_event("alice"), older_event("bob")])
    upgraded = DeliveryQueue(rt.redis, rt.config.namespace)  # a process of this version: its first claim
    claimed = upgraded.claim("hook", "tok", "b1", 10, 1)
    assert (claimed.clear, list(claimed.forgotten)) == (False, [alice])
    assert 86400_000 < rt.redis.pttl(rt.queue.keys.forgetting) <= (86400 + 3600) * 1000


def test_a_regulation_older_than_the_forget_window_leaves_claims_clear(make_runtime):
    from router.queue import DeliveryQueue

    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")])
    rt.redis.zadd(rt.queue.keys.regulations, {"long-ago": now_ms() - (86400 + 3600 + 60) * 1000})
    rt.queue.push("hook", [older_event("alice")])
    claimed = DeliveryQueue(rt.redis, rt.config.namespace).claim("hook", "tok", "b1", 10, 1)
    assert claimed.clear and not rt.redis.exists(rt.queue.keys.forgetting)


def test_the_scheduler_covers_a_delete_an_older_web_process_takes_while_the_workers_run_this_version(make_runtime):
    from router.regulations import record_regulation
    from router.scheduler import Scheduler

    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")])
    rt.queue.push("hook", [older_event("bob")])
    assert rt.queue.claim("hook", "tok", "b1", 10, 1).clear  # this process has claimed already
    alice = user_hash("alice")
    record_regulation(rt, "old-delete", "DELETE_ONLY", [alice], ["hook"], [])
    rt.redis.set(rt.queue.keys.forgotten(alice), now_ms(), ex=86400)
    rt.queue.push("hook", [older_event("alice")])
    Scheduler(rt).tick()
    claimed = rt.queue.claim("hook", "tok", "b2", 10, 1)
    assert (claimed.clear, list(claimed.forgotten)) == (False, [alice])


def test_what_a_batch_of_no_user_settles_is_kept_even_when_its_event_holds_a_deleted_users_hash(make_runtime):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")])
    alice = user_hash("alice")
    forget(rt, [alice])
    event = {"type": "track", "anonymousId": "a-1", "event": "E", "properties": {"u": alice}}
    anonymous = envelope(event, "id-anon", now_ms() - 1000)
    rt.queue.push("hook", [anonymous])
    claimed = rt.queue.claim("hook", "tok", "b1", 10, 1)
    assert (claimed.looked_up, claimed.forgotten) == (0, {})
    s = Settlement()
    s.retry.append((now_ms() + 60_000, anonymous))
    s.dead.append(json.dumps({"id": "id-anon", "u": "", "r": now_ms() - 1000, "event": event}, separators=(",", ":")))
    assert rt.queue.settle("hook", "b1", s, 86400)
    assert rt.redis.zcard(rt.queue.keys.retry("hook")) == 1 and len(rt.queue.dead_letters("hook")) == 1


@pytest.mark.parametrize("ordering", ["none", "per_user"])
def test_a_delete_an_older_web_process_takes_wins_over_the_next_claim_before_any_scheduler_tick(make_runtime, ordering):
    """The upgrade path: this version's workers run while an older web process still takes deletes
    (a regulation record and forgotten:<u>, no ns:forgetting). The claim right after such a delete
    must look its users up, not only claims after the scheduler's next minute."""
    from router.delivery import Drainer
    from router.regulations import record_regulation

    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/", ordering=ordering)])
    rt.queue.push("hook", [older_event("bob")])
    assert rt.queue.claim("hook", "tok", "b1", 10, 1, ordered=ordering == "per_user").clear  # this process has claimed already
    alice = user_hash("alice")
    record_regulation(rt, "old-delete", "DELETE_ONLY", [alice], ["hook"], [])
    rt.redis.set(rt.queue.keys.forgotten(alice), now_ms(), ex=86400)
    rt.queue.push("hook", [older_event("alice")])
    claimed = rt.queue.claim("hook", "tok2", "b2", 10, 1, ordered=ordering == "per_user")
    s = Settlement()
    kept = Drainer(rt, "hook", "tok2").drop_forgotten([json.loads(x) for x in claimed.items], s, claimed)
    assert (claimed.clear, kept, s.counts) == (False, [], {"forgotten": 1})
