"""Rate limits: one bucket per destination instance in Redis, plus the vendor's per-endpoint buckets."""
from __future__ import annotations

import pytest

from router.config import parse_config
from router.config_fields import RateLimit
from router.errors import ConfigError, Throttled
from router.ratelimit import Limiter

YESPO = {"name": "y", "type": "yespo", "settings": {"api_key": "k"}}


def test_two_workers_share_one_bucket(redis_client):
    key = "test-rl-shared"
    redis_client.delete(key)
    first, second = (Limiter(redis_client, key, RateLimit(1, 60)) for _ in range(2))
    first()
    with pytest.raises(Throttled) as exc:
        second()
    assert 50 < exc.value.retry_after <= 60 and exc.value.reason.startswith("rate limit reached")


def test_a_vendors_endpoint_buckets_are_separate_from_its_default_one(make_runtime):
    rt = make_runtime(destinations=[dict(YESPO, rate_limit="1/minute", rate_limits={"event": "1/minute"})])
    throttle = rt.build("y").throttle
    throttle()                 # the default bucket's one request
    throttle("event")          # the event bucket's own
    throttle("past_events")    # Yespo's default 100/second
    with pytest.raises(Throttled):
        throttle("event")
    with pytest.raises(Throttled):
        throttle()


def test_the_config_may_only_name_buckets_the_vendor_has():
    with pytest.raises(ConfigError) as exc:
        parse_config({"destinations": [dict(YESPO, rate_limits={"contacts": "5/second"})]})
    assert exc.value.errors == {
        "destinations[0].rate_limits": "yespo has no rate limit bucket contacts (buckets: event, past_events)"}
    dc = parse_config({"destinations": [dict(YESPO, rate_limits={"event": "50/second"})]}).destination("y")
    assert dc.rate_limits == {"event": RateLimit(50, 1), "past_events": RateLimit(100, 1)}



def test_a_worker_whose_clock_reading_is_older_does_not_refill_the_shared_bucket_for_the_others(redis_client):
    # two workers read the time, and the one that read it later reaches Redis first: a
    # millisecond is a token at 1000/second, and it must not be granted twice
    key = "test-rl-skew"
    redis_client.delete(key)
    limiter = Limiter(redis_client, key, RateLimit(1000, 1))
    later, earlier = 10_000_000, 10_000_000 - 5  # the two readings (ms)

    def take(now_ms: int, want: int) -> int:
        granted, _ = limiter._script(keys=[key], args=[now_ms, limiter.rate_per_ms, limiter.burst, want])
        return int(granted)

    assert take(later, 1000) == 1000  # the whole bucket
    assert take(earlier, 20) == 0  # empty, whichever reading asks
    # no time has passed since ``later``: the bucket is still empty
    assert take(later, 20) == 0
