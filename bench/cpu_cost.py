"""CPU per event of ingest and delivery, in process (not a test).

    PYTHONPATH=<tree> python bench/cpu_cost.py [--events 20000]

Wall-clock throughput swings with whatever else runs on the machine; CPU time
does not much. This posts /v1/batch requests of 100 events through the Flask
app (test client) and drains them with the delivery job's Drainer to a local
batching webhook, and prints the CPU microseconds per event spent by this
Python process (time.process_time) and by Redis (INFO used_cpu_*). Run it
with PYTHONPATH pointing at two checkouts to compare them (REDIS_URL: one
shared server, so both are measured on the same Redis). Bounded by --events.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from router.app import create_app
from router.config import parse_config
from router.delivery import Drainer
from router.redis_server import EmbeddedRedis, connect
from router.runtime import Runtime

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.run import track_event  # noqa: E402
from tests.fakes.http import FakeServer  # noqa: E402


def redis_cpu(r) -> float:
    info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--no-trace", action="store_true", help="trace: {max_events: 0} (trees that have traces)")
    ap.add_argument("--big", action="store_true", help="~1 KB events (bench/run.py track_event) instead of small ones")
    args = ap.parse_args()
    server = None
    url = os.environ.get("REDIS_URL")
    if not url:
        server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="er-cpu-")))
        server.start()
        url = server.url
    r = connect(url)
    ns = f"cpu{uuid.uuid4().hex[:6]}"
    with FakeServer() as hook:
        cfg = {"redis_url": "redis://unused", "namespace": ns, "sources": [{"name": "bench", "write_keys": ["k"]}],
               "destinations": [{"name": "hook", "type": "webhook", "batch_size": 100,
                                 "settings": {"url": hook.base_url, "batch": True}}]}
        if args.no_trace:
            cfg["trace"] = {"max_events": 0}
        saved = os.environ.pop("REDIS_URL", None)
        rt = Runtime(parse_config(cfg), r)
        if saved:
            os.environ["REDIS_URL"] = saved
        client = create_app(runtime=rt).test_client()
        try:
            n_req = args.events // 100
            c0, r0 = time.process_time(), redis_cpu(r)
            for n in range(n_req):
                batch = [track_event(f"{n}-{i}") if args.big else
                         {"type": "track", "userId": f"user-{n}-{i}", "event": "Order Completed", "messageId": f"{n}-{i}",
                          "properties": {"order_id": f"o-{n}-{i}", "revenue": 12.5}} for i in range(100)]
                assert client.post("/v1/batch", json={"batch": batch}, auth=("k", "")).status_code == 200
            c1, r1 = time.process_time(), redis_cpu(r)
            deadline = time.monotonic() + 300
            while r.llen(f"{ns}:buf:hook") and time.monotonic() < deadline:
                Drainer(rt, "hook", "bench").run()
            c2, r2 = time.process_time(), redis_cpu(r)
            events = n_req * 100
            print(f"ingest:   python {(c1 - c0) / events * 1e6:6.1f} µs/event, redis {(r1 - r0) / events * 1e6:5.1f} µs/event")
            print(f"delivery: python {(c2 - c1) / events * 1e6:6.1f} µs/event, redis {(r2 - r1) / events * 1e6:5.1f} µs/event "
                  f"({len(hook.requests)} webhook requests)")
        finally:
            keys = list(r.scan_iter(f"{ns}*")) + list(r.scan_iter(f"rq:*{ns}-*"))
            for i in range(0, len(keys), 1000):
                r.delete(*keys[i:i + 1000])
            if server:
                server.stop()


if __name__ == "__main__":
    main()
