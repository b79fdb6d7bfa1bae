"""Numbers over time: per-minute counters and a latency histogram in Redis.

The queue's Lua scripts (INGEST, SETTLE) write them in the same call that moves
the events, so they cost no extra round trip; this module owns their key
names, computes the arguments those scripts take (in Python, once per batch)
and reads them back. Every process writes and reads the same keys, so any web
process reports the same numbers.

    ns:m:d:<dest>:<minute>    hash  delivered / retried / rejected / skipped / gave_up, and the
                                    latency buckets l0..lN + lsum (ms) of that minute (expires)
    ns:m:s:<source>:<minute>  hash  ingest accepted / rejected / duplicate / suppressed (expires)
    ns:m:lat:<dest>           hash  the latency buckets since the start (Prometheus histogram)
    ns:m:src:<source>         hash  the ingest rejections since the start (and older versions'
                                    counters of every status)
    ns:stats:_ingest          hash  ``<source>|<status>``: INGEST's counters since the start, one
                                    write for the source's total and the router's; ``<status>``:
                                    rejections (router/intake.py) and older versions' counters.
                                    ``ingest_totals`` / ``Series.source_totals`` add them up.

``<minute>`` is the Unix time in minutes. Minute hashes expire ``retention``
after their minute (``metrics: {retention: 7d}``).
"""
from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import redis

#: upper bounds (ms) of the delivery-latency buckets, received -> vendor accepted; one more for +Inf.
#: Fixed, so any window's buckets add up and p50/p95/p99 can be read for it.
LATENCY_BUCKETS_MS: tuple[int, ...] = (
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000, 14_400_000,
)
DELIVERY_FIELDS = ("delivered", "retried", "rejected", "skipped", "gave_up", "filtered")
INGEST_FIELDS = ("accepted", "rejected", "duplicate", "suppressed")
DEFAULT_RETENTION = 7 * 86400.0


def minute_of(ms: int) -> int:
    return ms // 60_000


def expire_at(minute: int, retention: float) -> int:
    """Unix seconds when a minute's hash may go: ``retention`` after the minute ended."""
    return (minute + 1) * 60 + int(retention)


def latency_bucket(ms: int) -> int:
    """Index of the bucket a latency falls in (``len(LATENCY_BUCKETS_MS)`` is +Inf)."""
    return bisect.bisect_left(LATENCY_BUCKETS_MS, ms)


def latency_fields(latencies_ms: Iterable[int]) -> dict[str, int]:
    """One batch's latencies as hash increments: ``l<bucket>`` counts and ``lsum``."""
    out: dict[str, int] = {}
    total = 0
    for ms, n in Counter(latencies_ms).items():  # a batch's events mostly arrived together
        ms = max(0, int(ms))
        key = f"l{latency_bucket(ms)}"
        out[key] = out.get(key, 0) + n
        total += ms * n
    if out:
        out["lsum"] = total
    return out


def delivery_fields(counts: Mapping[str, int], latencies_ms: Iterable[int]) -> dict[str, int]:
    """What one settled batch adds to its destination's minute (and latency) hashes."""
    out = {k: int(counts[k]) for k in DELIVERY_FIELDS if counts.get(k)}
    out.update(latency_fields(latencies_ms))
    return out


@dataclass
class Window:
    """Counters added up over a span of minutes, plus the latency histogram of that span."""

    counts: dict[str, int]
    buckets: list[int]
    latency_sum_ms: int

    @property
    def latency_count(self) -> int:
        return sum(self.buckets)

    def quantile(self, q: float) -> float | None:
        return quantile(self.buckets, q)


def quantile(buckets: Sequence[int], q: float) -> float | None:
    """The q-quantile (0..1) in ms, interpolated inside its bucket as Prometheus'
    histogram_quantile does; the +Inf bucket answers with the last finite bound. None when empty."""
    total = sum(buckets)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(buckets):
        if n and seen + n >= rank:
            if i >= len(LATENCY_BUCKETS_MS):
                return float(LATENCY_BUCKETS_MS[-1])
            lower = LATENCY_BUCKETS_MS[i - 1] if i else 0
            upper = LATENCY_BUCKETS_MS[i]
            return lower + (upper - lower) * (rank - seen) / n
        seen += n
    return float(LATENCY_BUCKETS_MS[-1])


class Series:
    """Reads the minute hashes and the totals (the Lua scripts write them)."""

    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self.redis = client
        self.ns = namespace

    def dest_minute(self, dest: str, minute: int) -> str:
        return f"{self.ns}:m:d:{dest}:{minute}"

    def source_minute(self, source: str, minute: int) -> str:
        return f"{self.ns}:m:s:{source}:{minute}"

    def latency_total(self, dest: str) -> str:
        return f"{self.ns}:m:lat:{dest}"

    def source_total(self, source: str) -> str:
        return f"{self.ns}:m:src:{source}"

    @property
    def ingest_total(self) -> str:
        return f"{self.ns}:stats:_ingest"

    def source_totals(self, sources: Sequence[str]) -> dict[str, dict[str, int]]:
        """Each source's ingest counters since the start (Prometheus counters)."""
        pipe = self.redis.pipeline(transaction=False)
        for s in sources:
            pipe.hgetall(self.source_total(s))
        pipe.hgetall(self.ingest_total)
        *own, shared = pipe.execute()
        return add_source_totals(sources, own, shared)

    def minutes(self, key_of: Any, name: str, first: int, last: int) -> list[dict[str, int]]:
        """The hashes of minutes ``first..last`` (inclusive), one pipelined round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for m in range(first, last + 1):
            pipe.hgetall(key_of(name, m))
        return [{k.decode(): int(v) for k, v in h.items()} for h in pipe.execute()]

    def destination_minutes(self, dest: str, first: int, last: int) -> list[dict[str, int]]:
        return self.minutes(self.dest_minute, dest, first, last)

    def source_minutes(self, source: str, first: int, last: int) -> list[dict[str, int]]:
        return self.minutes(self.source_minute, source, first, last)

    def window(self, dest: str, first: int, last: int) -> Window:
        return add_up(self.destination_minutes(dest, first, last))

    def latency_totals(self, dest: str) -> Window:
        return add_up([{k.decode(): int(v) for k, v in self.redis.hgetall(self.latency_total(dest)).items()}])


def add_up(minutes: Iterable[Mapping[str, int]]) -> Window:
    counts: dict[str, int] = {}
    buckets = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    lsum = 0
    for h in minutes:
        for k, v in h.items():
            if k == "lsum":
                lsum += v
            elif k[0] == "l" and k[1:].isdigit():
                buckets[int(k[1:])] += v
            else:
                counts[k] = counts.get(k, 0) + v
    return Window(counts, buckets, lsum)


def ingest_totals(raw: Mapping[Any, Any]) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """``ns:stats:_ingest`` read back: the router's totals by status, and INGEST's part per source."""
    totals: dict[str, int] = {}
    by_source: dict[str, dict[str, int]] = {}
    for key, value in raw.items():
        source, sep, status = (key.decode() if isinstance(key, bytes) else key).rpartition("|")
        totals[status] = totals.get(status, 0) + int(value)
        if sep:
            by_source.setdefault(source, {})[status] = int(value)
    return totals, by_source


def add_source_totals(
    sources: Sequence[str], own: Sequence[Mapping[Any, Any]], shared: Mapping[Any, Any],
) -> dict[str, dict[str, int]]:
    """Each source's totals: its ``ns:m:src:<source>`` hash (``own``, in ``sources`` order) plus its
    fields of ``ns:stats:_ingest`` (``shared``)."""
    _, counted = ingest_totals(shared)
    out = {}
    for source, raw in zip(sources, own):
        totals = dict(counted.get(source, {}))
        for key, value in raw.items():
            status = key.decode() if isinstance(key, bytes) else key
            totals[status] = totals.get(status, 0) + int(value)
        out[source] = totals
    return out


def count_rejected(pipe: Any, queue: Any, source: str, n: int, now: int) -> None:
    """Queue the ingest-rejection counters on a pipeline the caller already sends
    (INGEST counts the other statuses itself)."""
    series = Series(queue.redis, queue.ns)
    minute = minute_of(now)
    key = series.source_minute(source, minute)
    pipe.hincrby(key, "rejected", n)
    pipe.expireat(key, expire_at(minute, queue.retention))
    pipe.hincrby(series.source_total(source), "rejected", n)
