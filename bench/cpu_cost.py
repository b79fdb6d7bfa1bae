"""CPU per event of ingest and delivery, in process (not a test).

    PYTHONPATH=<tree> python bench/cpu_cost.py [--events 20000] [--small] [--track] [--profile out.prof]

Wall-clock throughput swings with whatever else runs on the machine; CPU time
does not much. This posts /v1/batch requests of 100 events through the Flask
app (test client) and drains them with the delivery job's Drainer to a local
batching webhook, and prints the CPU microseconds per event spent by this
Python process (time.process_time) and by Redis (INFO used_cpu_*). The events
are bench/run.py's realistic ~1 KB track calls (``--small``: the old ~150-byte
ones); ``--track``: one event per /v1/track request instead. Run it
with PYTHONPATH pointing at two checkouts to compare them (REDIS_URL: one
shared server, so both are measured on the same Redis). Bounded by --events.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson

from router.app import create_app
from router.config import parse_config
from router.delivery import Drainer
from router.redis_server import EmbeddedRedis, connect
from router.runtime import Runtime

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.run import track_event  # noqa: E402
from tests.fakes.http import FakeServer  # noqa: E402


def small_event(mid: str) -> dict:
    """The ~150-byte event this bench posted before it used realistic ones (``--small``)."""
    return {"type": "track", "userId": f"user-{mid}", "event": "Order Completed", "messageId": mid,
            "properties": {"order_id": f"o-{mid}", "revenue": 12.5}}


def redis_cpu(r) -> float:
    info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--no-trace", action="store_true", help="trace: {max_events: 0} (trees that have traces)")
    ap.add_argument("--small", action="store_true", help="the old small events instead of ~1 KB realistic ones")
    ap.add_argument("--track", action="store_true", help="one event per /v1/track request instead of /v1/batch of 100")
    ap.add_argument("--ingest-only", action="store_true", help="skip the delivery phase")
    ap.add_argument("--profile", help="write a cProfile of the ingest phase to this file")
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
            make = small_event if args.small else track_event
            per = 1 if args.track else 100
            n_req = args.events // per
            bodies = [orjson.dumps(make(f"{n}-0") if args.track else {"batch": [make(f"{n}-{i}") for i in range(per)]})
                      for n in range(n_req)]
            path = "/v1/track" if args.track else "/v1/batch"
            headers = {"Content-Type": "application/json"}
            prof = cProfile.Profile() if args.profile else None
            c0, r0 = time.process_time(), redis_cpu(r)
            if prof:
                prof.enable()
            for body in bodies:
                assert client.post(path, data=body, headers=headers, auth=("k", "")).status_code == 200
            if prof:
                prof.disable()
                prof.dump_stats(args.profile)
            c1, r1 = time.process_time(), redis_cpu(r)
            deadline = time.monotonic() + 300
            while not args.ingest_only and r.llen(f"{ns}:buf:hook") and time.monotonic() < deadline:
                Drainer(rt, "hook", "bench").run()
            c2, r2 = time.process_time(), redis_cpu(r)
            events = n_req * per
            print(f"ingest ({path}, {'small' if args.small else '~1 KB'} events):")
            print(f"ingest:   python {(c1 - c0) / events * 1e6:6.1f} µs/event, redis {(r1 - r0) / events * 1e6:5.1f} µs/event")
            if not args.ingest_only:
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
