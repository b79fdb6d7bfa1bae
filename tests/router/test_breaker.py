"""The circuit breaker: a vendor that does not answer holds at most one worker (the probe)."""
from __future__ import annotations

import json
import time

from router.queue import Breaker, Settlement, Verdict, now_ms
from router.envelopes import envelope
from tests.fakes.http import FakeServer, Reply
from tests.helpers import webhook_destination, work

BREAKER = Breaker(failures=1, pause=0.4, max_pause=1.0)


def track(i: int) -> dict:
    return {"type": "track", "userId": f"user-{i}", "event": "Order Completed", "messageId": f"m-{i}"}


def queued(rt, n: int, dest: str = "hook") -> None:
    rt.wake([(dest, rt.queue.push(dest, [envelope(track(i), f"m-{i}", now_ms()) for i in range(n)]))])


def fail(rt, token: str, batch: str, breaker: Breaker = BREAKER) -> None:
    claimed = rt.queue.claim("hook", token, batch, 1, 2)
    assert claimed.items
    rt.queue.settle("hook", batch, Settlement(front=[i.decode() for i in claimed.items], verdict=Verdict.NO_ANSWER), 60, breaker)


def test_a_vendor_that_does_not_answer_stops_the_destination_until_a_probe_gets_an_answer(make_runtime):
    state = {"hang": True}
    with FakeServer(lambda req: Reply(200, {}, delay=1.0) if state["hang"] else Reply(200, {})) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, settings={"timeout": 0.3},
                                                            breaker={"pause": "3s"})])
        queued(rt, 5)
        work(rt)
        assert len(hook.requests) == 1  # one request timed out; the rest of the batch waits
        depth = rt.queue.depth("hook")
        assert depth["breaker_open_until"] > now_ms()
        assert (depth["retrying"], depth["buffered"], depth["retried"]) == (1, 4, 1)
        work(rt)
        assert len(hook.requests) == 1  # open: no worker goes near it
        state["hang"] = False
        time.sleep((depth["breaker_open_until"] - now_ms()) / 1000 + 0.1)
        deadline = time.monotonic() + 10
        while rt.queue.depth("hook").get("delivered", 0) < 5 and time.monotonic() < deadline:
            work(rt)
            time.sleep(0.05)
        depth = rt.queue.depth("hook")
        assert (depth["delivered"], depth["retried"], depth["breaker_open_until"]) == (5, 1, 0)
        assert sorted(r.json()["messageId"] for r in hook.requests[1:]) == [f"m-{i}" for i in range(5)]


def test_a_half_open_destination_lets_one_drainer_probe_and_spawns_no_other(make_runtime):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9")])
    queued(rt, 10)
    fail(rt, "t1", "b1")
    open_until = rt.queue.claim("hook", "t2", "b2", 1, 2).open_until
    assert open_until > now_ms()
    time.sleep((open_until - now_ms()) / 1000 + 0.05)
    rt.redis.delete(rt.queue.keys.drainers("hook"))  # only the probe runs: room for a second drainer
    probe = rt.queue.claim("hook", "t3", "b3", 1, 2)
    assert len(probe.items) == 1 and probe.spawn == ""  # 9 left, concurrency 2: still no second drainer
    other = rt.queue.claim("hook", "t4", "b4", 1, 2)
    assert (other.items, other.open_until) == ([], 0)
    rt.queue.settle("hook", "b3", Settlement(verdict=Verdict.ANSWERED), 60, BREAKER)
    rt.redis.zrem(rt.queue.keys.drainers("hook"), "t3")
    closed = rt.queue.claim("hook", "t4", "b5", 1, 2)
    assert len(closed.items) == 1 and closed.spawn != ""
    assert not rt.redis.exists(rt.queue.keys.breaker("hook"))


def test_each_failed_probe_doubles_the_pause_up_to_the_maximum(make_runtime):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9")])
    queued(rt, 10)
    pauses = []
    for n in range(4):
        rt.redis.hdel(rt.queue.keys.breaker("hook"), "until")  # as if the pause were over
        before = now_ms()
        fail(rt, f"t{n}", f"b{n}")
        pauses.append((int(rt.redis.hget(rt.queue.keys.breaker("hook"), "until")) - before) / 1000)
    assert [round(p, 1) for p in pauses] == [0.4, 0.8, 1.0, 1.0]


def test_it_opens_only_after_the_configured_failures_in_a_row(make_runtime):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9")])
    queued(rt, 10)
    three = Breaker(failures=3, pause=5, max_pause=5)
    fail(rt, "t", "b1", three)
    rt.queue.settle("hook", "none", Settlement(verdict=Verdict.ANSWERED), 60, three)  # an answer resets the count
    fail(rt, "t", "b2", three)
    fail(rt, "t", "b3", three)
    assert rt.queue.claim("hook", "t", "b4", 1, 2).items
    rt.queue.settle("hook", "b4", Settlement(verdict=Verdict.NO_ANSWER), 60, three)
    assert rt.queue.claim("hook", "t", "b5", 1, 2).open_until > now_ms()


def test_throttled_and_held_back_events_tell_the_breaker_nothing(make_runtime):
    from destinations.base import Outcome, OutcomeStatus
    from router.delivery import verdict

    held = Outcome(OutcomeStatus.RETRY, "not attempted", counts_as_attempt=False)
    assert verdict([held]) is Verdict.UNKNOWN
    assert verdict([Outcome(OutcomeStatus.RETRY, "503", 503), held]) is Verdict.ANSWERED
    assert verdict([Outcome.delivered(), Outcome(OutcomeStatus.RETRY, "timed out"), held]) is Verdict.NO_ANSWER


def test_a_batch_given_back_returns_to_the_head_of_the_buffer_in_order(make_runtime):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9")])
    queued(rt, 5)
    claimed = rt.queue.claim("hook", "t", "b1", 3, 1)
    assert rt.queue.give_back("hook", "b1") == 3
    assert rt.queue.give_back("hook", "b1") == 0
    buffered = [json.loads(e)["id"] for e in rt.redis.lrange(rt.queue.keys.buf("hook"), 0, -1)]
    assert buffered == [f"m-{i}" for i in range(5)] and len(claimed.items) == 3
    assert rt.queue.depth("hook")["inflight_batches"] == 0


def test_a_busy_drain_job_gives_its_worker_up_when_another_destination_waits_for_one(make_runtime):
    from router.delivery import FAIR_SLICE, Drainer

    with FakeServer(lambda req: Reply(200, {}, delay=0.02)) as busy, FakeServer() as other:
        rt = make_runtime(destinations=[webhook_destination(busy.base_url, name="busy", batch_size=5, concurrency=1),
                                        webhook_destination(other.base_url, name="other")],
                          delivery={"drain_budget": "60s", "lease": "60s"})
        token = rt.queue.push("busy", [envelope(track(i), f"m-{i}", now_ms()) for i in range(300)])
        rt.wake([("other", rt.queue.push("other", [envelope(track(0), "o-0", now_ms())]))])  # its job waits
        totals = Drainer(rt, "busy", token).run()
        # it stopped after its slice, not after draining everything (300 x 20 ms) or its budget
        assert 0 < totals["delivered"] < 300 and FAIR_SLICE < 6
        depth = rt.queue.depth("busy")
        assert depth["buffered"] == 300 - totals["delivered"] and depth["inflight_batches"] == 0
        # and handed out no successor that RQ's queue order could run before the waiting job
        assert rt.redis.zcard(rt.queue.keys.drainers("busy")) == 0 and len(rt.rq_queue("busy")) == 0
        deadline = time.monotonic() + 30
        while rt.queue.depth("busy").get("delivered", 0) < 300 and time.monotonic() < deadline:
            work(rt)  # the scheduler wakes it again
        assert rt.queue.depth("busy")["delivered"] == 300 and rt.queue.depth("other")["delivered"] == 1


def test_breaker_settings_are_checked_with_their_key_path():
    import pytest

    from router.config import parse_config
    from router.errors import ConfigError
    from tests.helpers import base_config

    cfg = parse_config(base_config(destinations=[webhook_destination("http://127.0.0.1:9", breaker={"pause": "2s"})]))
    assert cfg.destinations[0].breaker == Breaker(failures=1, pause=2.0, max_pause=120.0)
    with pytest.raises(ConfigError) as err:
        parse_config(base_config(destinations=[webhook_destination("http://127.0.0.1:9", breaker={"pause": "soon", "after": 2})]))
    assert err.value.errors == {
        "destinations[0].breaker.pause": "not a duration: 'soon' (use e.g. 30s, 5m, 4h, 7d)",
        "destinations[0].breaker.after": "unknown key",
    }


def test_batches_of_one_outage_that_time_out_together_open_the_breaker_once_not_for_twice_as_long(make_runtime):
    # concurrency 2: both drain jobs were mid-request when the vendor went silent; the second
    # silence is the same outage, not a failed probe
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9")])
    queued(rt, 10)
    minute = Breaker(failures=1, pause=60, max_pause=600)
    first, second = rt.queue.claim("hook", "t1", "b1", 1, 2), rt.queue.claim("hook", "t2", "b2", 1, 2)
    assert first.items and second.items
    before = now_ms()
    for batch in ("b1", "b2"):
        rt.queue.settle("hook", batch, Settlement(verdict=Verdict.NO_ANSWER), 60, minute)
    pause = (int(rt.redis.hget(rt.queue.keys.breaker("hook"), "until")) - before) / 1000
    assert 60 <= pause < 90  # not 120: the second silence did not count as a failed probe


def test_a_vendor_that_trickles_its_answer_is_retried_and_stops_the_destination_like_one_that_hangs(make_runtime):
    """Each byte within the read timeout, the whole answer never: a timeout to the breaker too."""
    from tests.destinations.test_http import answer_then_trickle
    from tests.fakes.raw import RawVendor

    with RawVendor(answer_then_trickle) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, settings={"timeout": 0.5},
                                                            breaker={"pause": "3s"})])
        queued(rt, 3)
        work(rt)
        assert len(hook.requests) == 1
        depth = rt.queue.depth("hook")
        assert depth["breaker_open_until"] > now_ms()
        assert (depth["retrying"], depth["buffered"], depth["retried"]) == (1, 2, 1)
        [(env, _)] = [(json.loads(e), due) for e, due in rt.redis.zrange(rt.queue.keys.retry("hook"), 0, -1, withscores=True)]
        assert (env["a"], env["l"]) == (1, "webhook did not finish its answer within 0.5 s")
