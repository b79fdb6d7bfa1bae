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
