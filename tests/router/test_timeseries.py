"""Numbers over time: per-minute counters and the latency histogram, written by the queue scripts."""
from __future__ import annotations

from destinations.base import Outcome, OutcomeStatus
from router.queue import now_ms
from router.envelopes import user_hash
from router.timeseries import LATENCY_BUCKETS_MS, Series, add_up, latency_fields, minute_of, quantile
from tests.fakes.http import FakeServer, Reply
from tests.helpers import WRITE_KEY, webhook_destination, work


def track(mid: str, user: str = "u") -> dict:
    return {"type": "track", "userId": user, "event": "Order Completed", "messageId": mid}


def this_minute_window(series: Series, dest: str):
    m = minute_of(now_ms())
    return series.window(dest, m - 2, m)  # the events were settled a moment ago, maybe just before the minute turned


def test_each_minute_keeps_a_destinations_outcomes_and_latencies(make_runtime, client_for):
    with FakeServer(lambda req: Reply(422, "no") if req.json()["messageId"] == "bad" else Reply(200, {})) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client_for(rt).post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [track("a"), track("b"), track("c"), track("bad")]})
        work(rt)
        window = this_minute_window(Series(rt.redis, rt.config.namespace), "hook")
        assert window.counts == {"delivered": 3, "rejected": 1}
        assert window.latency_count == 3
        assert window.quantile(0.5) is not None and window.latency_sum_ms >= 0
        assert Series(rt.redis, rt.config.namespace).latency_totals("hook").latency_count == 3


def test_retries_and_retry_window_give_ups_are_counted_per_minute(make_runtime, client_for):
    with FakeServer(lambda req: Reply(503, "down")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, retry_window="0s"),
                                        webhook_destination(hook.base_url, name="patient")])
        client_for(rt).post("/v1/track", json={"writeKey": WRITE_KEY, **track("m1")})
        work(rt)
        series = Series(rt.redis, rt.config.namespace)
        assert this_minute_window(series, "hook").counts == {"rejected": 1, "gave_up": 1}
        assert this_minute_window(series, "patient").counts == {"retried": 1}
        assert this_minute_window(series, "patient").latency_count == 0


def test_ingest_is_counted_per_source_and_minute_by_status(make_runtime, client_for):
    rt = make_runtime()
    client = client_for(rt)
    rt.redis.sadd(rt.queue.keys.suppressed, user_hash("quiet"))
    batch = [track("m1"), track("m2"), {"type": "track", "userId": "u"}, track("m3", user="quiet")]
    assert client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": batch}).status_code == 200
    client.post("/v1/track", json={"writeKey": WRITE_KEY, **track("m1")})
    series = Series(rt.redis, rt.config.namespace)
    m = minute_of(now_ms())
    assert add_up(series.source_minutes("website", m - 2, m)).counts == {"accepted": 2, "rejected": 1, "suppressed": 1, "duplicate": 1}
    assert add_up(series.source_minutes("segment", m - 2, m)).counts == {}
    assert series.source_totals(["website", "segment"]) == {
        "website": {"accepted": 2, "rejected": 1, "suppressed": 1, "duplicate": 1}, "segment": {}}


def test_minute_hashes_expire_after_the_configured_retention(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)], metrics={"retention": "2h"})
        client_for(rt).post("/v1/track", json={"writeKey": WRITE_KEY, **track("m1")})
        work(rt)
        series = Series(rt.redis, rt.config.namespace)
        m = minute_of(now_ms())
        candidates = [series.dest_minute("hook", x) for x in range(m - 2, m + 1)]
        candidates += [series.source_minute("website", x) for x in range(m - 2, m + 1)]
        minute_keys = [k for k in candidates if rt.redis.exists(k)]
        assert len(minute_keys) in (2, 3, 4)  # one per series, two when a minute turned in between
        for key in minute_keys:
            assert 7200 <= rt.redis.ttl(key) <= 7200 + 120
        assert rt.redis.ttl(series.latency_total("hook")) == -1  # the totals are Prometheus counters: kept


def test_latencies_fall_into_fixed_buckets():
    assert latency_fields([0, 50, 51, 100, 20_000_000]) == {"l0": 2, "l1": 2, f"l{len(LATENCY_BUCKETS_MS)}": 1, "lsum": 20_000_201}
    assert latency_fields([]) == {}


def test_quantiles_interpolate_inside_their_bucket_like_prometheus():
    buckets = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    buckets[1] = 100  # 100 deliveries between 50 and 100 ms
    assert quantile(buckets, 0.5) == 75.0
    assert quantile(buckets, 0.99) == 99.5
    buckets[-1] = 900  # most took longer than the last bound
    assert quantile(buckets, 0.95) == float(LATENCY_BUCKETS_MS[-1])
    assert quantile([0] * len(buckets), 0.5) is None



def test_the_retries_of_a_batch_whose_handling_crashed_are_counted_per_minute_as_in_the_totals(make_runtime, client_for):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9")])
    # a plugin's outcome the drainer cannot handle (a text Retry-After): the batch is retried as a whole
    rt.build("hook").send = lambda batch: [Outcome(OutcomeStatus.RETRY, "later", 503, retry_after="soon")] * len(batch)
    client_for(rt).post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [track("a"), track("b")]})
    work(rt)
    assert rt.queue.depth("hook")["retried"] == 2
    assert this_minute_window(Series(rt.redis, rt.config.namespace), "hook").counts == {"retried": 2}
