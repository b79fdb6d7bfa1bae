"""The delivery engine, in process: ingest -> Redis -> RQ worker -> a real local HTTP destination."""
from __future__ import annotations

import hashlib
import hmac
import json
import time

from destinations.base import Outcome, OutcomeStatus
from router.delivery import Drainer
from router.replay import replay
from router.scheduler import Scheduler
from tests.fakes.http import FakeServer, Reply
from tests.helpers import WRITE_KEY, webhook_destination, work

AUTH = {"Authorization": "Basic dGVzdC13cml0ZS1rZXk6"}  # base64("test-write-key:")


def track(i: int, **extra):
    return {"type": "track", "userId": f"user-{i}", "event": "Order Completed", "messageId": f"m-{i}",
            "properties": {"order_id": f"o-{i}"}, **extra}


def post_batch(client, events):
    r = client.post("/v1/batch", json={"batch": events}, headers=AUTH)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_an_accepted_event_reaches_the_webhook_signed_like_segment(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url + "/hook")])
        post_batch(client_for(rt), [track(1)])
        work(rt)
        (req,) = hook.requests
        body = req.json()
        assert req.path == "/hook"
        assert req.headers["X-Signature"] == hmac.new(b"hook-secret-1234", req.body, hashlib.sha1).hexdigest()
        assert body["userId"] == "user-1" and body["event"] == "Order Completed" and body["messageId"] == "m-1"
        assert body["properties"] == {"order_id": "o-1"}
        assert rt.queue.depth("hook")["delivered"] == 1


def test_a_batching_webhook_gets_one_request_per_batch_of_events(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, settings={"batch": True}, batch_size=50)])
        post_batch(client_for(rt), [track(i) for i in range(120)])
        work(rt)
        sizes = [len(r.json()) for r in hook.requests]
        assert sizes == [50, 50, 20]
        assert [e["messageId"] for r in hook.requests for e in r.json()] == [f"m-{i}" for i in range(120)]


def test_a_5xx_is_retried_with_backoff_until_the_destination_recovers(make_runtime, client_for):
    answers = iter([Reply(503, "down"), Reply(500, "still down")])
    with FakeServer(lambda req: next(answers, Reply(200, {}))) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        post_batch(client_for(rt), [track(1)])
        deadline = time.monotonic() + 10
        while rt.queue.depth("hook").get("delivered", 0) < 1 and time.monotonic() < deadline:
            work(rt)
            time.sleep(0.1)
        depth = rt.queue.depth("hook")
        assert depth["delivered"] == 1 and depth["retried"] == 2 and depth["dead_letters"] == 0
        assert len(hook.requests) == 3


def test_retry_after_is_honoured(make_runtime, client_for):
    answers = iter([Reply(429, "slow down", headers={"Retry-After": "30"})])
    with FakeServer(lambda req: next(answers, Reply(200, {}))) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        post_batch(client_for(rt), [track(1)])
        work(rt)
        ((env, due),) = rt.redis.zrange(rt.queue.keys.retry("hook"), 0, -1, withscores=True)
        assert 25 <= due / 1000 - time.time() <= 30.5  # 30 s from the send, which was a moment ago
        assert json.loads(env)["l"] == "webhook answered 429"


def test_a_4xx_goes_to_the_dead_letters_with_the_reason_and_no_secret(make_runtime, client_for):
    with FakeServer(lambda req: Reply(400, {"error": "bad field", "echo": "hook-secret-1234"})) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        post_batch(client_for(rt), [track(1)])
        work(rt)
        ((_, dead),) = rt.queue.dead_letters("hook")
        assert dead["reason"] == "webhook answered 400"
        assert dead["status"] == 400
        assert dead["attempts"] == 1
        assert dead["event"]["messageId"] == "m-1"
        assert dead["payload"]["messageId"] == "m-1"
        assert "hook-secret-1234" not in json.dumps(dead)
        assert json.loads(dead["response"]) == {"error": "bad field", "echo": "[redacted]"}


def test_an_event_still_failing_after_the_retry_window_becomes_a_dead_letter(make_runtime, client_for):
    with FakeServer(lambda req: Reply(500, "down")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, retry_window="300ms")])
        post_batch(client_for(rt), [track(1)])
        deadline = time.monotonic() + 10
        while not rt.queue.depth("hook")["dead_letters"] and time.monotonic() < deadline:
            work(rt)
            time.sleep(0.15)
        ((_, dead),) = rt.queue.dead_letters("hook")
        assert dead["reason"].startswith("gave up after ")
        assert dead["reason"].endswith(": webhook answered 500")
        assert dead["attempts"] >= 2


def test_dead_letters_replay_into_the_destination_once_it_is_fixed(make_runtime, client_for):
    state = {"ok": False}
    with FakeServer(lambda req: Reply(200, {}) if state["ok"] else Reply(401, "no")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        post_batch(client_for(rt), [track(1), track(2)])
        work(rt)
        assert rt.queue.depth("hook")["dead_letters"] == 2
        state["ok"] = True
        assert replay(rt, "hook") == 2
        work(rt)
        depth = rt.queue.depth("hook")
        assert depth["dead_letters"] == 0 and depth["delivered"] == 2
        assert sorted(r.json()["messageId"] for r in hook.requests[-2:]) == ["m-1", "m-2"]


def test_a_batch_whose_worker_died_returns_to_the_buffer_when_its_lease_expires(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)], delivery={"lease": "200ms"})
        post_batch(client_for(rt), [track(i) for i in range(5)])
        # a worker claims the batch and dies before settling it
        claimed = rt.queue.claim("hook", "dead-worker", "b1", 100, 1)
        assert len(claimed.items) == 5 and rt.queue.depth("hook")["buffered"] == 0
        time.sleep(0.3)
        moved, reaped = Scheduler(rt).tick()["hook"]
        assert reaped == 5
        work(rt)
        assert sorted(r.json()["messageId"] for r in hook.requests) == [f"m-{i}" for i in range(5)]
        # the dead worker's late settle must not double anything
        assert rt.queue.settle("hook", "b1", Drainer(rt, "hook", "x").process(claimed.items)[0], 60) is False


def test_one_destination_down_does_not_hold_up_another(make_runtime, client_for):
    with FakeServer(lambda req: Reply(200, {})) as up_hook, FakeServer(lambda req: Reply(200, {}, delay=2)) as slow:
        rt = make_runtime(destinations=[
            webhook_destination(up_hook.base_url, name="up"),
            webhook_destination("http://127.0.0.1:9", name="down"),  # nothing listens: connection refused
            webhook_destination(slow.base_url, name="slow", settings={"timeout": 0.5}),
        ])
        post_batch(client_for(rt), [track(i) for i in range(3)])
        started = time.monotonic()
        work(rt)
        assert time.monotonic() - started < 5
        assert rt.queue.depth("up")["delivered"] == 3
        assert rt.queue.depth("down")["retrying"] + rt.queue.depth("down")["buffered"] == 3
        assert rt.queue.depth("slow")["retrying"] + rt.queue.depth("slow")["buffered"] == 3


def test_the_shared_rate_limit_holds_events_back_without_using_up_attempts(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, rate_limit="2/second")])
        post_batch(client_for(rt), [track(i) for i in range(6)])
        started = time.monotonic()
        while rt.queue.depth("hook").get("delivered", 0) < 6 and time.monotonic() - started < 10:
            work(rt)
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        assert rt.queue.depth("hook")["delivered"] == 6
        assert elapsed >= 2.0  # 6 requests at 2/second, the first 2 at once
        assert rt.queue.depth("hook").get("retried", 0) == 0
        assert [r.json()["messageId"] for r in hook.requests] == [f"m-{i}" for i in range(6)]


def test_a_mapper_that_crashes_rejects_only_that_event(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        drainer = Drainer(rt, "hook", "tok")

        def map_or_crash(event):
            if event["messageId"] == "m-1":
                raise KeyError("price")
            return event

        drainer.plugin.map = map_or_crash
        envs = [json.dumps({"u": "", "r": 0, "id": f"m-{i}", "a": 0, "f": 0, "e": track(i)}).encode() for i in range(3)]
        settlement, _ = drainer.process(envs)
        assert settlement.counts == {"delivered": 2, "rejected": 1}
        assert json.loads(settlement.dead[0])["reason"] == "mapping failed: KeyError: 'price'"


def test_outcomes_from_errors_keep_the_vendor_status():
    from router.errors import RejectedEvent, Throttled

    assert Outcome.from_error(RejectedEvent("bad", status=400)).status is OutcomeStatus.REJECTED
    throttled = Outcome.from_error(Throttled("wait", retry_after=2.0))
    assert throttled.status is OutcomeStatus.RETRY and throttled.counts_as_attempt is False


def test_events_renamed_for_one_destination_keep_their_name_for_the_others(make_runtime, client_for):
    with FakeServer() as a, FakeServer() as b:
        rt = make_runtime(destinations=[
            webhook_destination(a.base_url, name="a", events={"rename": {"Order Completed": "conversion"}}),
            webhook_destination(b.base_url, name="b"),
        ])
        post_batch(client_for(rt), [track(1)])
        work(rt)
        assert a.requests[0].json()["event"] == "conversion"
        assert b.requests[0].json()["event"] == "Order Completed"


def test_write_key_header_is_what_authenticates_a_batch():
    assert AUTH["Authorization"].split()[1] == __import__("base64").b64encode(f"{WRITE_KEY}:".encode()).decode()


def test_a_failing_vendor_is_tried_once_per_batch_and_the_rest_wait_without_using_attempts(make_runtime, client_for):
    with FakeServer(lambda req: Reply(503, "down")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)], delivery={"retry_base": "30s"})
        post_batch(client_for(rt), [track(i) for i in range(5)])
        work(rt)
        assert len(hook.requests) == 1
        depth = rt.queue.depth("hook")
        assert (depth["retrying"], depth["buffered"], depth["retried"]) == (1, 4, 1)
        assert all(json.loads(e)["a"] == 0 for e in rt.redis.lrange(rt.queue.keys.buf("hook"), 0, -1))
        # the destination is parked: no new drain job until the pause is over
        work(rt)
        assert len(hook.requests) == 1


def test_a_dead_letter_shows_a_plugins_payload_object_as_json(make_runtime):
    import dataclasses
    import enum

    class Kind(str, enum.Enum):
        EVENT = "event"

    @dataclasses.dataclass
    class Call:
        kind: Kind
        body: dict

    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9")])
    drainer = Drainer(rt, "hook", "tok")
    env = {"u": "", "r": 0, "id": "m-1", "a": 0, "f": 0, "e": track(1)}
    record = json.loads(drainer.dead_letter(env, Outcome(OutcomeStatus.REJECTED, "no"), Call(Kind.EVENT, {"a": 1}), 0))
    assert record["payload"] == {"kind": "event", "body": {"a": 1}}


def test_events_cannot_be_queued_for_a_disabled_destination_where_nothing_would_deliver_them(make_runtime):
    import pytest

    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9", enabled=False)])
    with pytest.raises(LookupError, match="destination 'hook' is disabled"):
        rt.enqueue("hook", [track(1)])
    assert rt.queue.depth("hook")["buffered"] == 0


def test_claim_hands_out_the_delete_times_of_the_batch_s_deleted_users(make_runtime, client_for):
    from router.envelopes import user_hash

    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, settings={"batch": True})])
        post_batch(client_for(rt), [track(1), track(2)])
        # user-1 deleted after its event was received (as if the delete's purge had missed it)
        from router.regulations import record_regulation

        record_regulation(rt, "del-1", "DELETE_ONLY", [user_hash("user-1")], ["hook"], [])
        rt.queue.mark_forgotten([user_hash("user-1")], int(time.time() * 1000) + 1000)
        claimed = rt.queue.claim("hook", "tok", "b1", 100, 1)
        assert claimed.looked_up == 2 and list(claimed.forgotten) == [user_hash("user-1")] and not claimed.clear
        settlement, _ = Drainer(rt, "hook", "tok").process(claimed.items, claimed)
        assert settlement.counts == {"delivered": 1, "forgotten": 1}
        assert [e["messageId"] for e in hook.requests[0].json()] == ["m-2"]


def test_a_claimed_batch_comes_back_byte_for_byte(make_runtime):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")])
    plain = json.dumps({"u": "", "r": 1, "id": "a", "a": 0, "f": 0, "e": {"type": "track", "event": "é\u2028"}},
                       ensure_ascii=False).encode()
    odd = b'{"u":"","r":1,"id":"b","a":0,"f":0,"e":{"type":"track","event":"\xff"}}'  # not UTF-8: sent as a list
    for items in ([plain, plain + b" "], [plain, odd]):
        rt.redis.rpush(rt.queue.keys.buf("hook"), *items)
        assert rt.queue.claim("hook", "tok", f"b{len(items[1])}", 100, 1).items == items


def test_a_batching_webhook_sends_the_stored_events_as_they_are_and_retries_keep_them_last(make_runtime, client_for):
    answers = iter([Reply(503, "down")])
    with FakeServer(lambda req: next(answers, Reply(200, {}))) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, settings={"batch": True})],
                          delivery={"retry_base": "10ms", "retry_max": "10ms"})
        events = [track(1, properties={"price": 12.5, "name": "Kärcher \u2028 \"x\",\"e\":{"}), track(2)]
        post_batch(client_for(rt), events)
        work(rt)
        (waiting,) = rt.queue.retrying("hook", 10)[:1] or [None]
        raw = rt.redis.zrange(rt.queue.keys.retry("hook"), 0, 0)[0]
        assert list(json.loads(raw))[-1] == "e" and waiting["last_error"]  # the event stays last
        deadline = time.monotonic() + 10
        while rt.queue.depth("hook").get("delivered", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
            work(rt)
        sent = sorted((e for r in hook.requests[1:] for e in r.json()), key=lambda e: e["messageId"])
        assert [e["properties"] for e in sent] == [{"price": 12.5, "name": "Kärcher \u2028 \"x\",\"e\":{"},
                                                   {"order_id": "o-2"}]


def test_an_older_retry_whose_error_follows_its_event_is_sent_right(make_runtime):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, settings={"batch": True})])
        older = {"u": "", "r": 1, "id": "x", "a": 1, "f": 1, "e": {"type": "track", "event": "A", "messageId": "m-x",
                                                                   "properties": {"p": {"q": 1}}}, "l": "was down }"}
        fresh = {"u": "", "r": 1, "id": "y", "a": 0, "f": 0, "e": {"type": "track", "event": "B", "messageId": "m-y"}}
        envs = [json.dumps(older, separators=(",", ":")), json.dumps(fresh, separators=(",", ":"))]
        rt.wake([("hook", rt.queue.push("hook", envs))])
        work(rt)
        assert hook.requests[0].json() == [older["e"], fresh["e"]]


def test_a_settle_claims_the_next_batch_in_its_round_trip_even_on_a_fresh_server(make_runtime, client_for):
    from router.queue import Breaker

    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        post_batch(client_for(rt), [track(i) for i in range(3)])
        first = rt.queue.claim("hook", "tok", "b1", 2, 1)
        settlement, _ = Drainer(rt, "hook", "tok").process(first.items, first)
        rt.redis.script_flush()  # as after a failover: the scripts are loaded again
        settled, after = rt.queue.settle_and_claim("hook", "b1", settlement, 60, Breaker(), "tok", "b2", 2, 1)
        assert settled and [json.loads(x)["e"]["messageId"] for x in after.items] == ["m-2"]
        depth = rt.queue.depth("hook")
        assert (depth["delivered"], depth["buffered"], depth["inflight_batches"]) == (2, 0, 1)


def test_a_batch_claimed_with_the_last_settle_goes_back_when_the_drain_stops_on_an_error(make_runtime, client_for, monkeypatch):
    import pytest

    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, batch_size=2)])
        post_batch(client_for(rt), [track(i) for i in range(6)])
        drainer = Drainer(rt, "hook", "tok")

        def fails(*args, **kwargs):
            raise RuntimeError("log write failed")

        monkeypatch.setattr(drainer.log, "flush", fails)  # after the first settle, which claimed the next batch
        with pytest.raises(RuntimeError):
            drainer.run()
        assert len(hook.requests) == 2  # the first batch, one request per event
        depth = rt.queue.depth("hook")
        assert (depth["inflight_batches"], depth["buffered"]) == (0, 4)


def test_an_event_with_a_thousand_attempts_behind_it_is_still_scheduled_for_a_retry(make_runtime, client_for):
    # a vendor that asked for a short Retry-After every time: over a 4 h window an event can
    # pass a thousand attempts; the next answer without Retry-After backs off at the cap
    with FakeServer(lambda req: Reply(503, "down")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        post_batch(client_for(rt), [track(1)])
        buf = rt.queue.keys.buf("hook")
        env = json.loads(rt.redis.lpop(buf))
        env.update(a=1100, f=int(time.time() * 1000))
        env["e"] = env.pop("e")  # the event stays last
        rt.redis.rpush(buf, json.dumps(env, separators=(",", ":")))
        work(rt)
        depth = rt.queue.depth("hook")
        assert depth["retrying"] == 1 and depth["buffered"] == 0 and depth["retried"] == 1
        ((stored, due),) = rt.redis.zrange(rt.queue.keys.retry("hook"), 0, -1, withscores=True)
        assert json.loads(stored)["a"] == 1101
        assert due / 1000 - time.time() <= rt.config.delivery["retry_max"]
