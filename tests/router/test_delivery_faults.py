"""A vendor's odd answers and a plugin's bugs never crash a drain job, and never leave a batch
waiting out its lease."""
from __future__ import annotations

import json
import logging
import time

import pytest
from rq.registry import FailedJobRegistry

from destinations.base import Outcome, OutcomeStatus
from router.queue import now_ms
from router.envelopes import envelope
from tests.fakes.http import FakeServer, Reply
from tests.helpers import webhook_destination, work

WINDOW = 3600  # the destination's retry_window in these tests

BAD_RETRY_AFTER = ["inf", "-inf", "nan", "1e308", "1e999", "-30", "Wed, 21 Oct 2015 07:28:00 GMT",
                   "Fri, 31 Dec 9999 23:59:59 GMT", "soon"]


def track(i: int) -> dict:
    return {"type": "track", "userId": f"user-{i}", "event": "Order Completed", "messageId": f"m-{i}"}


def queued(rt, n: int) -> None:
    rt.wake([("hook", rt.queue.push("hook", [envelope(track(i), f"m-{i}", now_ms()) for i in range(n)]))])


def failed_jobs(rt) -> int:
    return FailedJobRegistry(queue=rt.rq_queue("hook")).count


def retries(rt) -> list[tuple[dict, float]]:
    return [(json.loads(e), due / 1000) for e, due in rt.redis.zrange(rt.queue.keys.retry("hook"), 0, -1, withscores=True)]


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("retry_after", BAD_RETRY_AFTER)
def test_a_retry_after_that_is_not_a_sane_number_is_kept_inside_the_retry_window(make_runtime, status, retry_after):
    with FakeServer(lambda req: Reply(status, "busy", headers={"Retry-After": retry_after})) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, retry_window=f"{WINDOW}s")])
        queued(rt, 2)
        work(rt)
        assert failed_jobs(rt) == 0
        depth = rt.queue.depth("hook")
        # tried events wait for their retry (a wait of 0 may have let the drain try the next one
        # too); the others wait at the head of the buffer without using an attempt
        assert depth["inflight_batches"] == 0
        assert depth["retrying"] >= 1 and depth["retrying"] + depth["buffered"] == 2
        for env, due in retries(rt):
            assert env["a"] == 1 and env["l"] == f"webhook answered {status}"
            assert env["f"] / 1000 <= due <= env["f"] / 1000 + WINDOW
        for _, parked_until in rt.redis.zrange(rt.queue.keys.drainers("hook"), 0, -1, withscores=True):
            assert parked_until / 1000 <= time.time() + WINDOW


@pytest.mark.parametrize("wait", [float("inf"), 10**400], ids=["inf", "10**400"])  # an int too large for a float too
def test_a_plugin_that_asks_for_an_infinite_wait_gets_the_retry_window(make_runtime, wait):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9", retry_window=f"{WINDOW}s")])
    rt.build("hook").send = lambda batch: [Outcome(OutcomeStatus.RETRY, "later", 503, retry_after=wait)] * len(batch)
    queued(rt, 1)
    work(rt)
    ((env, due),) = retries(rt)
    assert failed_jobs(rt) == 0 and env["a"] == 1
    assert env["f"] / 1000 + WINDOW - 2 <= due <= env["f"] / 1000 + WINDOW


def test_a_plugin_bug_in_the_bookkeeping_retries_the_batch_at_once_instead_of_after_the_lease(make_runtime, caplog):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9")], delivery={"lease": "60s"})
    # a plugin that hands back a retry delay that is not a number
    rt.build("hook").send = lambda batch: [Outcome(OutcomeStatus.RETRY, "later", 503, retry_after="soon")] * len(batch)
    queued(rt, 3)
    with caplog.at_level(logging.ERROR, logger="router.delivery"):
        work(rt)
    assert failed_jobs(rt) == 0
    depth = rt.queue.depth("hook")
    assert (depth["inflight_batches"], depth["retrying"], depth["buffered"]) == (0, 3, 0)
    assert {env["l"] for env, _ in retries(rt)} == {"delivery failed: TypeError"}
    assert all(env["a"] == 1 for env, _ in retries(rt))
    assert "drain of hook failed (TypeError: " in caplog.text
    assert "hook-secret-1234" not in caplog.text


def test_a_batch_that_keeps_crashing_ends_as_dead_letters_with_the_reason(make_runtime):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9", retry_window="300ms")])
    rt.build("hook").send = lambda batch: [Outcome(OutcomeStatus.RETRY, "later", 503, retry_after="soon")] * len(batch)
    queued(rt, 2)
    deadline = time.monotonic() + 15
    while rt.queue.depth("hook")["dead_letters"] < 2 and time.monotonic() < deadline:
        work(rt)
        time.sleep(0.1)
    dead = [rec for _, rec in rt.queue.dead_letters("hook")]
    assert len(dead) == 2 and all(d["reason"].startswith("gave up after ") and d["attempts"] >= 2 for d in dead)
    assert failed_jobs(rt) == 0


@pytest.mark.parametrize("answer,said", [
    (lambda batch: None, "NoneType"),
    (lambda batch: [True] * len(batch), "a list of bool"),
    (lambda batch: (Outcome.delivered() for _ in batch), "generator"),
])
def test_a_send_that_returns_no_outcomes_is_retried_with_a_reason_naming_the_mistake(make_runtime, answer, said):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9")])
    rt.build("hook").send = answer
    queued(rt, 2)
    work(rt)
    assert failed_jobs(rt) == 0
    assert [(env["a"], env["l"]) for env, _ in retries(rt)] == [
        (1, f"destination failed: webhook's send() returned {said}, not a list of Outcome (one per event, in order)")
    ] * 2


def _exits(*args):
    raise SystemExit(2)


@pytest.mark.parametrize("part", ["map", "send"])
def test_a_plugin_that_calls_sys_exit_while_delivering_settles_its_batch_instead_of_ending_the_drain(make_runtime, part):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9")])
    plugin = rt.build("hook")
    plugin.passthrough = False  # the webhook's mapper is otherwise not called at all
    setattr(plugin, part, _exits)
    queued(rt, 2)
    work(rt)
    assert failed_jobs(rt) == 0
    depth = rt.queue.depth("hook")
    assert (depth["inflight_batches"], depth["buffered"]) == (0, 0)
    if part == "map":  # a mapper that fails rejects its event
        assert [d["reason"] for _, d in rt.queue.dead_letters("hook")] == ["mapping failed: SystemExit: 2"] * 2
    else:  # a send that fails keeps the events for a retry
        assert [env["l"] for env, _ in retries(rt)] == ["destination failed: SystemExit: 2"] * 2
