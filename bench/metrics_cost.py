"""What the metrics add to the two scripts every event passes through (not a test).

    python bench/metrics_cost.py [--rounds 2000]

Calls INGEST (100-event requests) and CLAIM+SETTLE (100-event batches) against
an embedded Redis (or REDIS_URL), alternating rounds with the metrics
arguments empty (what the scripts did before) and filled, and prints the
median microseconds per call of each. Bounded by --rounds.
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

from router.queue import DeliveryQueue, Settlement, envelope  # noqa: E402
from router.redis_server import EmbeddedRedis, connect  # noqa: E402
from router.timeseries import delivery_fields  # noqa: E402


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
    times: dict[str, list[float]] = {"ingest": [], "ingest+metrics": [], "settle": [], "settle+metrics": []}
    try:
        for n in range(args.rounds):
            with_metrics = n % 2 == 1
            items = []
            for i in range(100):
                ev = {"type": "track", "userId": f"u{i}", "event": "e", "messageId": f"{n}-{i}"}
                items.append((f"{n}-{i}", "", ["hook"], envelope(ev, f"{n}-{i}", int(time.time() * 1000))))
            t = time.perf_counter()
            q.ingest("bench", items, 60)  # the metrics are written by INGEST either way
            times["ingest+metrics" if with_metrics else "ingest"].append(time.perf_counter() - t)
            claimed = q.claim("hook", "tok", f"b{n}", 100, 1)
            s = Settlement()
            s.count("delivered", len(claimed.items))
            if with_metrics:
                s.metrics = delivery_fields(s.counts, [120 + i for i in range(len(claimed.items))])
                s.health = "ok"
            t = time.perf_counter()
            q.settle("hook", f"b{n}", s, 3600)
            times["settle+metrics" if with_metrics else "settle"].append(time.perf_counter() - t)
        for name in ("settle", "settle+metrics"):
            print(f"{name:16} median {statistics.median(times[name]) * 1e6:7.0f} µs per 100-event batch")
        print(f"ingest (metrics always on) median {statistics.median(times['ingest'] + times['ingest+metrics']) * 1e6:7.0f} µs per 100-event request")
    finally:
        keys = list(r.scan_iter(f"{ns}*"))
        if keys:
            r.delete(*keys)
        if server:
            server.stop()


if __name__ == "__main__":
    main()
