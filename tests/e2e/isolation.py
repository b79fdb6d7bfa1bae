"""Measure how much a hanging destination delays a healthy one (used by the e2e test and bench/isolation.py).

Two webhook destinations get every event: ``healthy`` answers at once, ``hanging``
sleeps longer than its timeout until it "recovers". Real worker processes and the
scheduler deliver; the measuring side ingests a steady trickle in process and
records, per event, ingest time -> the moment the vendor received it.
"""
from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from router.app import create_app
from router.config import load_config
from router.runtime import Runtime
from tests.e2e.procs import Proc, write_config
from tests.fakes.http import FakeServer, Reply, Request


@dataclass
class Vendor:
    """A fake webhook that notes when each messageId first reached it with a 2xx."""

    hang: float = 0.0
    received: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, req: Request) -> Reply:
        if self.hang:
            return Reply(200, {}, delay=self.hang)
        with self.lock:
            self.received.setdefault(req.json()["messageId"], time.time())
        return Reply(200, {})


@dataclass
class Result:
    sent: dict[str, float]
    healthy: dict[str, float]
    hanging: dict[str, float]
    depth: dict[str, Any]

    def latencies(self) -> list[float]:
        return sorted(self.healthy[m] - t for m, t in self.sent.items() if m in self.healthy)

    def p(self, q: float) -> float:
        lat = self.latencies()
        return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("inf")

    def summary(self) -> str:
        lat = self.latencies()
        return (f"{len(self.sent)} events; healthy received {len(self.healthy)}: p50 {self.p(0.5):.2f}s "
                f"p95 {self.p(0.95):.2f}s max {max(lat, default=float('inf')):.2f}s mean "
                f"{statistics.fmean(lat) if lat else float('inf'):.2f}s; hanging delivered {len(self.hanging)} after recovery")


def measure(tmp: Path, *, timeout: float, rate: float, seconds: float, workers: int = 2,
            hanging_batch_size: int | None = None, recover_within: float = 60.0,
            delivery: dict[str, Any] | None = None, backlog: int = 0, hang: bool = True) -> Result:
    """Trickle ``rate`` events/s for ``seconds`` while ``hanging`` hangs, then let it recover
    and wait (at most ``recover_within`` s) until every event reached both vendors.

    ``backlog``: events queued for ``hanging`` alone before the trickle starts; with
    ``hang=False`` that makes it a busy neighbour instead of a hanging one."""
    good, bad = Vendor(), Vendor(hang=timeout + 1.5 if hang else 0.0)
    with FakeServer(good) as good_srv, FakeServer(bad) as bad_srv:
        hanging: dict[str, Any] = {"name": "hanging", "type": "webhook",
                                   "settings": {"url": bad_srv.base_url, "timeout": timeout}}
        if hanging_batch_size:
            hanging["batch_size"] = hanging_batch_size
        config = write_config(tmp, [hanging, {"name": "healthy", "type": "webhook", "settings": {"url": good_srv.base_url}}],
                              delivery=delivery or {})
        procs = [Proc(config, "scheduler")] + [Proc(config, "worker") for _ in range(workers)]
        try:
            rt = Runtime(load_config(str(config)))
            client = create_app(runtime=rt).test_client()
            sent: dict[str, float] = {}
            # the workers are up once a first event went through
            warm = client.post("/v1/track", json={"userId": "w", "event": "warm-up", "messageId": "warm-up",
                                                  "writeKey": "e2e-write-key"})
            assert warm.status_code == 200, warm.get_json()
            deadline = time.monotonic() + 30
            while "warm-up" not in good.received and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "warm-up" in good.received, procs[1].output()
            good.received.clear()
            bad.received.clear()
            if backlog:
                rt.enqueue("hanging", [{"type": "track", "userId": f"b{i}", "event": "Backlog", "messageId": f"b-{i}"}
                                       for i in range(backlog)])
            start = time.monotonic()
            n = 0
            while time.monotonic() - start < seconds and n < rate * seconds:
                mid = f"m-{n}"
                sent[mid] = time.time()
                r = client.post("/v1/track", json={"userId": f"u{n}", "event": "Order Completed", "messageId": mid,
                                                   "writeKey": "e2e-write-key"})
                assert r.status_code == 200, r.get_json()
                n += 1
                time.sleep(max(0.0, start + n / rate - time.monotonic()))
            # give the healthy one a moment for the last events, then let the hanging one recover
            deadline = time.monotonic() + 15
            while len(good.received) < len(sent) and time.monotonic() < deadline:
                time.sleep(0.05)
            bad.hang = 0.0
            deadline = time.monotonic() + recover_within
            while not set(sent) <= set(bad.received) | {"warm-up"} and time.monotonic() < deadline:
                time.sleep(0.1)
            return Result(sent, dict(good.received), dict(bad.received), rt.queue.depth("hanging"))
        finally:
            for p in procs:
                p.stop()
