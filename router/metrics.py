"""``GET /metrics``: the Prometheus text format, read from Redis at scrape time.

Nothing is counted in process memory: a custom collector reads the counters
the queue scripts keep (router/queue.py, router/timeseries.py) in one
pipelined round trip, so every web process answers with the same numbers
however many web and worker processes there are. Behind the admin token
unless ``metrics_public: true``.
"""
from __future__ import annotations

import re
import time
from typing import Any, Iterator

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from router.admin import admin_only, health
from router.runtime import Runtime
from router.timeseries import DELIVERY_FIELDS, INGEST_FIELDS, LATENCY_BUCKETS_MS, Series, add_source_totals

bp = Blueprint("metrics", __name__)

_RECEIVED = re.compile(rb'"r":(\d+)')
#: the scheduler counts as alive when it ticked within this many tick periods (and at least 10 s)
SCHEDULER_GRACE_TICKS = 5


class RedisCollector:
    """Yields every eventrouter metric from one read of Redis."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[Metric]:
        rt = self.rt
        keys = rt.queue.keys
        series = Series(rt.redis, rt.config.namespace)
        dests = [d.name for d in rt.config.destinations]
        enabled = {d.name for d in rt.config.enabled_destinations}
        # sources may share a name (a write key and a webhook secret of one site); their counters are one
        # series, and a sample repeated with the same labels makes Prometheus refuse the whole scrape
        sources = list(dict.fromkeys(s.name for s in rt.config.sources))
        pipe = rt.redis.pipeline(transaction=False)
        for d in dests:
            pipe.llen(keys.buf(d))
            pipe.zcard(keys.retry(d))
            pipe.zcard(keys.inflight(d))
            pipe.xlen(keys.dead(d))
            pipe.hgetall(keys.stats(d))
            pipe.hgetall(series.latency_total(d))
            pipe.lindex(keys.buf(d), 0)
            pipe.exists(f"{rt.config.namespace}:failing:{d}")
        for s in sources:
            pipe.hgetall(series.source_total(s))
        pipe.hgetall(series.ingest_total)
        raw = pipe.execute()
        by_source = add_source_totals(sources, raw[len(dests) * 8:-1], raw[-1])
        now = time.time()

        delivered = CounterMetricFamily(
            "eventrouter_delivery_events", "Events settled per destination, by outcome (rejected = dead-lettered; "
            "gave_up = the part of rejected that ran out of retry window)", labels=["destination", "outcome"])
        latency = HistogramMetricFamily(
            "eventrouter_delivery_latency_seconds", "Received by the router -> accepted by the vendor",
            labels=["destination"])
        tested = CounterMetricFamily("eventrouter_tester_sends", "Events the event tester sent with \"send\": true "
                                     "(not deliveries; they draw from the same rate limit)", labels=["destination"])
        gauges = {
            "buffered": GaugeMetricFamily("eventrouter_buffered_events", "Events waiting in the buffer", labels=["destination"]),
            "retrying": GaugeMetricFamily("eventrouter_retrying_events", "Events waiting for their next attempt", labels=["destination"]),
            "inflight": GaugeMetricFamily("eventrouter_inflight_batches", "Batches claimed by a worker and not yet settled", labels=["destination"]),
            "dead": GaugeMetricFamily("eventrouter_dead_letters", "Dead letters kept (replayable)", labels=["destination"]),
            "oldest": GaugeMetricFamily("eventrouter_oldest_waiting_event_age_seconds",
                                        "Age of the event at the head of the buffer (0 when empty)", labels=["destination"]),
            "failing": GaugeMetricFamily("eventrouter_destination_failing",
                                         "1 while the destination's last attempts all failed at the vendor", labels=["destination"]),
        }
        for i, d in enumerate(dests):
            buf, retry, inflight, dead, stats, lat, head, failing = raw[i * 8 : i * 8 + 8]
            stats = {k.decode(): int(v) for k, v in stats.items()}
            for outcome in DELIVERY_FIELDS:
                delivered.add_metric([d, outcome], stats.get(outcome, 0))
            tested.add_metric([d], stats.get("tested", 0))
            lat = {k.decode(): int(v) for k, v in lat.items()}
            cumulative, buckets = 0, []
            for b, bound in enumerate(LATENCY_BUCKETS_MS):
                cumulative += lat.get(f"l{b}", 0)
                buckets.append((_le(bound / 1000), cumulative))
            cumulative += lat.get(f"l{len(LATENCY_BUCKETS_MS)}", 0)
            buckets.append(("+Inf", cumulative))
            latency.add_metric([d], buckets, lat.get("lsum", 0) / 1000)
            gauges["buffered"].add_metric([d], buf)
            gauges["retrying"].add_metric([d], retry)
            gauges["inflight"].add_metric([d], inflight)
            gauges["dead"].add_metric([d], dead)
            gauges["oldest"].add_metric([d], _age(head, now))
            gauges["failing"].add_metric([d], 1 if failing and d in enabled else 0)  # a disabled one is not alerted on
        yield delivered
        yield tested
        yield latency
        yield from gauges.values()

        ingest = CounterMetricFamily("eventrouter_ingest_events", "Events received per source, by status",
                                     labels=["source", "status"])
        for s in sources:
            for status in INGEST_FIELDS:
                ingest.add_metric([s, status], by_source[s].get(status, 0))
        yield ingest

        state, _ = health(rt)
        yield GaugeMetricFamily("eventrouter_workers", "Delivery workers registered on this deployment's queues",
                                value=state["workers"])
        tick_age = state["scheduler_last_tick_seconds_ago"]
        grace = max(10.0, SCHEDULER_GRACE_TICKS * rt.config.delivery["tick"])
        yield GaugeMetricFamily("eventrouter_scheduler_up", f"1 when the scheduler ticked in the last {grace:g}s",
                                value=1 if tick_age is not None and tick_age <= grace else 0)
        if tick_age is not None:
            yield GaugeMetricFamily("eventrouter_scheduler_last_tick_age_seconds", "Seconds since the scheduler's last tick",
                                    value=tick_age)


def _le(seconds: float) -> str:
    return floatToGoString(seconds)


def _age(head: bytes | None, now: float) -> float:
    """Seconds since the head envelope was received (its ``"r"`` sits near the front)."""
    if not head:
        return 0.0
    m = _RECEIVED.search(head[:200])
    return max(0.0, round(now - int(m.group(1)) / 1000, 3)) if m else 0.0


def render(rt: Runtime) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(rt))  # type: ignore[arg-type]
    return generate_latest(registry)


@bp.get("/metrics")
def metrics() -> Any:
    rt: Runtime = current_app.extensions["eventrouter.runtime"]

    def answer() -> Response:
        return Response(render(rt), content_type=CONTENT_TYPE_LATEST)

    return answer() if rt.config.metrics_public else admin_only(answer)()
