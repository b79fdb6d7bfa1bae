"""Redis answers lost with their connection (a restart, a network cut) after the command ran:
what the worker does next must neither lose nor double an event or a count."""
from __future__ import annotations

import hashlib
import time

from redis.backoff import NoBackoff
from redis.retry import Retry

from router.envelopes import envelope
from router.queue import now_ms
from router.ratelimit import BUCKET
from router.redis_server import connect
from router.runtime import Runtime
from router.scripts import CLAIM, SETTLE
from tests.fakes.http import FakeServer
from tests.fakes.redis_proxy import RedisProxy
from tests.helpers import webhook_destination, work


def track(i: int) -> dict:
    return {"type": "track", "userId": f"user-{i}", "event": "Order Completed", "messageId": f"m-{i}"}


def sha(script: str) -> bytes:
    return hashlib.sha1(script.encode()).hexdigest().encode()


def test_a_settle_whose_answer_was_lost_delivers_each_event_once_and_counts_it_once(make_runtime, redis_url, redis_client):
    with FakeServer() as hook, RedisProxy(redis_url) as proxy:
        config = make_runtime(destinations=[webhook_destination(hook.base_url, batch_size=2)],
                              delivery={"lease": "1s", "retry_base": "100ms"}).config
        rt = Runtime(config, connect(proxy.url))
        Runtime.set_current(rt)
        for script in (SETTLE, CLAIM):  # loaded: the first EVALSHA runs (no NOSCRIPT answer to lose instead)
            redis_client.script_load(script)
        rt.wake([("hook", rt.queue.push("hook", [envelope(track(i), f"m-{i}", now_ms()) for i in range(4)]))])
        proxy.lose_reply_to(sha(SETTLE))
        work(rt)
        assert proxy.cut == 1
        deadline = time.monotonic() + 5  # the batch claimed with the lost settle returns after its lease
        while len(hook.requests) < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
            work(rt)
        assert sorted(r.json()["messageId"] for r in hook.requests) == ["m-0", "m-1", "m-2", "m-3"]
        depth = rt.queue.depth("hook")
        assert (depth["buffered"], depth["inflight_batches"], depth["retrying"], depth["dead_letters"],
                depth["delivered"]) == (0, 0, 0, 0, 4)


def test_a_rate_limiter_that_loses_redis_does_not_open_the_vendors_breaker_or_blame_the_vendor(
    make_runtime, redis_url, redis_client
):
    # Redis away (a failover) while the shared rate limit is asked: the vendor was never called
    with FakeServer() as hook, RedisProxy(redis_url) as proxy:
        config = make_runtime(destinations=[webhook_destination(hook.base_url, rate_limit="100/second")],
                              delivery={"retry_base": "100ms"}).config
        rt = Runtime(config, connect(proxy.url, retry=Retry(NoBackoff(), 0)))  # redis-py's retries used up
        Runtime.set_current(rt)
        redis_client.script_load(BUCKET)
        rt.wake([("hook", rt.queue.push("hook", [envelope(track(0), "m-0", now_ms())]))])
        proxy.lose_reply_to(sha(BUCKET))
        work(rt)
        assert proxy.cut == 1
        assert hook.requests == []
        assert rt.queue.depth("hook").get("breaker_open_until", 0) == 0
        assert redis_client.get(f"{rt.config.namespace}:failing:hook") is None
        deadline = time.monotonic() + 5
        while not hook.requests and time.monotonic() < deadline:
            time.sleep(0.1)
            work(rt)
        assert [r.json()["messageId"] for r in hook.requests] == ["m-0"]
