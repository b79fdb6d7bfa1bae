"""Ingest and delivery throughput, measured on this machine (not a test).

    python bench/throughput.py [--events 100000] [--batch 100] [--senders 4] [--workers 2] [--seconds 60]

1. starts an embedded Redis (or uses REDIS_URL), the web process (gunicorn, 2
   processes) and a local webhook receiver on 127.0.0.1;
2. ingest: senders post /v1/batch requests of --batch events until --events
   are accepted or --seconds pass; prints events/s;
3. delivery: starts --workers workers and the scheduler and waits until every
   event reached the receiver (a batching webhook, 100 per request, or with
   --per-event one request per event); prints events/s, worker start-up included.
Every loop is bounded in count and time; only loopback addresses are used.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from router.redis_server import EmbeddedRedis, connect  # noqa: E402
from tests.e2e.procs import Proc, free_port, wait_http  # noqa: E402
from tests.fakes.http import FakeServer, Reply, Request  # noqa: E402


class Receiver(FakeServer):
    """The webhook the benchmark delivers to: counts the events it receives."""

    def __init__(self) -> None:
        super().__init__(self.receive)
        self.count = 0
        self.lock = threading.Lock()

    def receive(self, req: Request) -> Reply:
        body = req.json()
        with self.lock:
            self.count += len(body) if isinstance(body, list) else 1
        return Reply(200, {})

    @property
    def url(self) -> str:
        return self.base_url + "/hook"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--senders", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--per-event", action="store_true", help="one webhook request per event instead of 100")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="er-bench-"))
    server = None
    if not os.environ.get("REDIS_URL"):
        server = EmbeddedRedis(tmp / "data")
        server.start()
    receiver = Receiver().start()
    ns = f"bench{uuid.uuid4().hex[:6]}"
    cfg = {
        "redis_url": "embedded", "data_dir": str(tmp / "data"), "namespace": ns,
        "sources": [{"name": "bench", "write_keys": ["bench-key"]}],
        "destinations": [{"name": "hook", "type": "webhook", "batch_size": 100,
                          "settings": {"url": receiver.url, "batch": not args.per_event}}],
    }
    config = tmp / "eventrouter.yaml"
    config.write_text(yaml.safe_dump(cfg))
    port = free_port()
    web = Proc(config, "serve", "--port", str(port), "--web-workers", "2")
    procs = [web]
    try:
        if not wait_http(f"http://127.0.0.1:{port}/healthz"):
            raise SystemExit("the web process did not come up:\n" + web.output())
        accepted = ingest(port, args)
        procs.append(Proc(config, "scheduler"))
        procs += [Proc(config, "worker") for _ in range(args.workers)]
        start = time.monotonic()
        deadline = start + args.seconds * 2
        while receiver.count < accepted and time.monotonic() < deadline:
            time.sleep(0.05)
        took = time.monotonic() - start
        shape = "one request per event" if args.per_event else "100 events per request"
        print(f"delivery: {receiver.count} events in {took:.2f}s = {receiver.count / took:,.0f} events/s "
              f"({args.workers} workers, webhook, {shape})")
        if receiver.count < accepted:
            print(f"  incomplete: {accepted - receiver.count} events not delivered within the time bound")
    finally:
        for p in procs:
            p.stop()
        receiver.stop()
        if server:
            server.stop()
        else:
            r = connect(os.environ["REDIS_URL"])
            keys = list(r.scan_iter(f"{ns}*"))
            if keys:
                r.delete(*keys)


def ingest(port: int, args: argparse.Namespace) -> int:
    url = f"http://127.0.0.1:{port}/v1/batch"
    requests_total = args.events // args.batch
    counter = iter(range(requests_total))
    lock = threading.Lock()
    accepted = [0]
    deadline = time.monotonic() + args.seconds

    def sender(sid: int) -> None:
        s = requests.Session()
        s.auth = ("bench-key", "")
        while time.monotonic() < deadline:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            batch = [{"type": "track", "userId": f"user-{n}-{i}", "event": "Order Completed",
                      "messageId": f"{sid}-{n}-{i}", "properties": {"order_id": f"o-{n}-{i}", "revenue": 12.5},
                      "context": {"ip": "127.0.0.1", "library": {"name": "bench"}}} for i in range(args.batch)]
            r = s.post(url, data=json.dumps({"batch": batch}), headers={"Content-Type": "application/json"}, timeout=30)
            r.raise_for_status()
            with lock:
                accepted[0] += r.json()["accepted"]

    start = time.monotonic()
    threads = [threading.Thread(target=sender, args=(i,)) for i in range(args.senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - start
    print(f"ingest: {accepted[0]} events in {took:.2f}s = {accepted[0] / took:,.0f} events/s "
          f"({args.batch}-event batches, {args.senders} senders, 2 gunicorn processes)")
    return accepted[0]


if __name__ == "__main__":
    main()
