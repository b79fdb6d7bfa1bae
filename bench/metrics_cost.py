"""What metrics and traces add to the two scripts every event passes through (not a test).

    python bench/metrics_cost.py [--rounds 2000]

Calls INGEST (100-event requests) and CLAIM+SETTLE (100-event batches) against
an embedded Redis (or REDIS_URL), alternating rounds with the observability
arguments empty (what the scripts did before; INGEST's per-source counters
are always on) and filled (per-minute counters, latency buckets, health, one
trace entry per event), and prints the median microseconds per call of each.
Bounded by --rounds.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from router.queue import DeliveryQueue, Settlement  # noqa: E402
from router.envelopes import envelope  # noqa: E402
from router.redis_server import EmbeddedRedis, connect  # noqa: E402
from router.timeseries import delivery_fields  # noqa: E402
from router.trace import received_entry  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2000)
    args = ap.parse_args()
    server = None
    url = os.environ.get("REDIS_URL")
    if not url:
        server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="er-mcost-")))
        server.start()
        url = server.url
    r = connect(url)
    ns = f"mcost{uuid.uuid4().hex[:6]}"
    q = DeliveryQueue(r, ns)
    times: dict[str, list[float]] = {"ingest": [], "ingest+trace": [], "settle": [], "settle+metrics+trace": []}
    try:
        for n in range(args.rounds):
            with_metrics = n % 2 == 1
            items, traces = [], []
            now = int(time.time() * 1000)
            for i in range(100):
                ev = {"type": "track", "userId": f"u{i}", "event": "e", "messageId": f"{n}-{i}"}
                items.append((f"{n}-{i}", f"{i:032x}", ["hook"], envelope(ev, f"{n}-{i}", now)))
                traces.append(received_entry("bench", now, ["hook"], ev, []))
            t = time.perf_counter()
            q.ingest("bench", items, 60, traces if with_metrics else None)
            times["ingest+trace" if with_metrics else "ingest"].append(time.perf_counter() - t)
            claimed = q.claim("hook", "tok", f"b{n}", 100, 1)
            s = Settlement()
            s.count("delivered", len(claimed.items))
            if with_metrics:
                s.metrics = delivery_fields(s.counts, [120 + i for i in range(len(claimed.items))])
                s.health = "ok"
                for raw in claimed.items:
                    mid = raw.split(b'"id":"')[1].split(b'"')[0].decode()
                    s.trace.setdefault('{"at":1,"kind":"attempt","destination":"hook","outcome":"delivered","reason":"",'
                                       '"status":200,"attempt":1,"final":true}', []).append(mid)
            t = time.perf_counter()
            q.settle("hook", f"b{n}", s, 3600)
            times["settle+metrics+trace" if with_metrics else "settle"].append(time.perf_counter() - t)
        for name in ("ingest", "ingest+trace"):
            print(f"{name:22} median {statistics.median(times[name]) * 1e6:7.0f} µs per 100-event request")
        for name in ("settle", "settle+metrics+trace"):
            print(f"{name:22} median {statistics.median(times[name]) * 1e6:7.0f} µs per 100-event batch")
    finally:
        keys = list(r.scan_iter(f"{ns}*"))
        if keys:
            r.delete(*keys)
        if server:
            server.stop()


if __name__ == "__main__":
    main()
