"""A user deleted while their batch is at the vendor stays forgotten: what the batch settles for
them (a retry, a return to the buffer, a dead letter) is dropped, not stored again."""
from __future__ import annotations

import json

import pytest

from router.queue import Settlement, now_ms
from router.envelopes import envelope, user_hash
from router.regulations import forget, record_regulation
from tests.helpers import webhook_destination


def deleted(rt, hashes: list[str], reg_id: str = "del-1") -> None:
    """The users deleted as the router deletes: the regulation recorded, then forgotten."""
    record_regulation(rt, reg_id, "DELETE_ONLY", hashes, ["hook"], [])
    forget(rt, hashes)


def test_a_batch_settled_after_its_user_was_deleted_stores_nothing_of_them(make_runtime):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")])
    alice, bob = user_hash("alice"), user_hash("bob")
    received = now_ms() - 1000
    envs = [envelope({"type": "track", "userId": u, "event": "E"}, f"id-{u}", received) for u in ("alice", "bob")]
    rt.queue.push("hook", envs)
    claimed = rt.queue.claim("hook", "tok", "b1", 10, 1)
    assert len(claimed.items) == 2
    deleted(rt, [alice])  # the delete arrives while the batch is out
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
    deleted(rt, [user_hash("alice")])
    later = envelope({"type": "track", "userId": "alice", "event": "Back"}, "id-later", now_ms() + 1000)
    rt.queue.push("hook", [later])
    rt.queue.claim("hook", "tok", "b1", 10, 1)
    s = Settlement()
    s.dead.append(json.dumps({"id": "later", "u": user_hash("alice"), "r": now_ms() + 1000, "reason": "no"},
                             separators=(",", ":")))
    assert rt.queue.settle("hook", "b1", s, 86400)
    assert [rec["id"] for _, rec in rt.queue.dead_letters("hook")] == ["later"]


# CLAIM looks a batch's users up only while a delete's forgotten:<u> keys may live ------------------
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
    deleted(rt, [user_hash("alice")])
    rt.queue.push("hook", [older_event("alice"), older_event("bob")])
    claimed = rt.queue.claim("hook", "tok", "b1", 10, 1)
    s = Settlement()
    kept = Drainer(rt, "hook", "tok").drop_forgotten([json.loads(x) for x in claimed.items], s, claimed)
    assert (claimed.clear, claimed.looked_up, list(claimed.forgotten)) == (False, 2, [user_hash("alice")])
    assert [e["u"] for e in kept] == [user_hash("bob")] and s.counts == {"forgotten": 1}


def test_a_delete_an_older_version_recorded_still_wins_after_an_upgrade(make_runtime):
    from router.queue import DeliveryQueue

    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")])
    alice = user_hash("alice")
    # what an older version's delete left: its regulation record, then the user's key
    record_regulation(rt, "old-delete", "DELETE_ONLY", [alice], ["hook"], [])
    rt.redis.set(rt.queue.keys.forgotten(alice), now_ms(), ex=86400)
    rt.queue.push("hook", [older_event("alice"), older_event("bob")])
    claimed = DeliveryQueue(rt.redis, rt.config.namespace).claim("hook", "tok", "b1", 10, 1)
    assert (claimed.clear, list(claimed.forgotten)) == (False, [alice])


def test_claims_look_users_up_for_as_long_as_the_newest_regulation_s_keys_can_live(make_runtime):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")])
    hour, day = 3600_000, 86400_000
    rt.queue.push("hook", [older_event("alice")] * 3)
    rt.redis.zadd(rt.queue.keys.regulations, {"recent": now_ms() - day - hour + 60_000})
    assert not rt.queue.claim("hook", "tok", "b1", 1, 1).clear
    rt.redis.zadd(rt.queue.keys.regulations, {"recent": now_ms() - day - hour - 60_000})
    assert rt.queue.claim("hook", "tok", "b2", 1, 1).clear


def test_what_a_batch_of_no_user_settles_is_kept_even_when_its_event_holds_a_deleted_users_hash(make_runtime):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")])
    alice = user_hash("alice")
    deleted(rt, [alice])
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
def test_a_delete_any_process_records_wins_over_the_very_next_claim(make_runtime, ordering):
    """A delete recorded by any process (an older version's web process too: a regulation record,
    then forgotten:<u>) wins over the very next claim."""
    from router.delivery import Drainer
    from router.regulations import record_regulation

    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/", ordering=ordering)])
    rt.queue.push("hook", [older_event("bob")])
    assert rt.queue.claim("hook", "tok", "b1", 10, 1, ordered=ordering == "per_user").clear  # no delete yet
    alice = user_hash("alice")
    record_regulation(rt, "old-delete", "DELETE_ONLY", [alice], ["hook"], [])
    rt.redis.set(rt.queue.keys.forgotten(alice), now_ms(), ex=86400)
    rt.queue.push("hook", [older_event("alice")])
    claimed = rt.queue.claim("hook", "tok2", "b2", 10, 1, ordered=ordering == "per_user")
    s = Settlement()
    kept = Drainer(rt, "hook", "tok2").drop_forgotten([json.loads(x) for x in claimed.items], s, claimed)
    assert (claimed.clear, kept, s.counts) == (False, [], {"forgotten": 1})
