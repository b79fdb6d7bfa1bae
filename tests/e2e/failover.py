"""Steady ingest through the Flask app against a Sentinel-managed Redis while its master is
SIGKILLed: what the failover test asserts and bench/failover.py reports."""
from __future__ import annotations

import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from router.app import create_app
from router.config import parse_config
from router.runtime import Runtime
from tests.e2e.redis_ha import RedisHA
from tests.helpers import WRITE_KEY, base_config

DEST = "hook"


@dataclass
class Outcome:
    acked: set[str] = field(default_factory=set)
    requests: int = 0
    unavailable: int = 0  # 503 answers
    #: seconds from the kill to the first 200 after it
    outage: float = 0.0
    slowest: float = 0.0
    lost: set[str] = field(default_factory=set)

    def summary(self, mode: str) -> str:
        return (f"durability={mode}: {len(self.acked)} events acked in {self.requests} requests, "
                f"{self.unavailable} answered 503, no 200 for {self.outage:.2f} s after the kill, "
                f"slowest request {self.slowest:.2f} s, {len(self.lost)} acked events lost")


def destination(url: str = "http://127.0.0.1:9/unused") -> dict[str, Any]:
    return {"name": DEST, "type": "webhook", "batch_size": 50, "settings": {"url": url, "batch": True}}


def runtime_for(url: str, durability: str, dest_url: str | None = None, namespace: str = "") -> Runtime:
    saved = os.environ.pop("REDIS_URL", None)  # this test's Redis, not the suite's
    try:
        config = parse_config(base_config(
            redis_url=url, durability=durability, replica_wait="500ms", **({"namespace": namespace} if namespace else {}),
            destinations=[destination(dest_url) if dest_url else destination()],
        ))
    finally:
        if saved is not None:
            os.environ["REDIS_URL"] = saved
    return Runtime(config)


def run(ha: RedisHA, durability: str, *, before: float = 1.5, after: float = 2.0, cap: float = 40.0,
        batch: int = 5, rate: float = 100.0, restart_old_master: bool = False, namespace: str = "",
        dest_url: str | None = None) -> Outcome:
    """Send ``rate`` requests/s of ``batch`` events, kill -9 the master after ``before`` s, keep
    sending until ingest has answered 200 for ``after`` s (at most ``cap`` s in all), then count
    which acked events the promoted master does not hold. A 503 is retried with the same
    messageIds, as Segment's libraries do. With ``dest_url`` workers deliver meanwhile (the test
    runs them); then nothing is counted as lost here: the test counts what arrived."""
    rt = runtime_for(ha.url, durability, dest_url, namespace)
    client = create_app(runtime=rt).test_client()
    out = Outcome()
    start = time.monotonic()
    killed_at: float | None = None
    recovered_at: float | None = None
    old = None
    pending: list[dict[str, Any]] | None = None
    restarter: threading.Thread | None = None
    while time.monotonic() - start < cap:
        now = time.monotonic()
        if killed_at is None and now - start >= before:
            old = ha.current_master()
            old.kill()
            killed_at = now
            if restart_old_master:
                # a process manager brings the node back once the sentinels moved on; they make it a replica
                def restart(node=old) -> None:
                    ha.wait_failover(node)
                    node.start()
                restarter = threading.Thread(target=restart, daemon=True)
                restarter.start()
        if recovered_at is not None and now - recovered_at >= after:
            break
        if pending is None:
            pending = [{"type": "track", "event": "Load", "userId": f"u{out.requests % 50}",
                        "messageId": uuid.uuid4().hex} for _ in range(batch)]
        t0 = time.monotonic()
        resp = client.post("/v1/batch", json={"batch": pending, "writeKey": WRITE_KEY})
        out.slowest = max(out.slowest, time.monotonic() - t0)
        out.requests += 1
        if resp.status_code == 200:
            out.acked.update(e["messageId"] for e in pending)
            pending = None
            if killed_at is not None and recovered_at is None:
                recovered_at = time.monotonic()
                out.outage = recovered_at - killed_at
        else:
            assert resp.status_code == 503, (resp.status_code, resp.get_data(as_text=True))
            out.unavailable += 1
        time.sleep(max(0.0, 1 / rate - (time.monotonic() - t0)))
    if restarter is not None:
        restarter.join(30)
    if recovered_at is None:
        out.outage = float("inf")
    if dest_url:
        return out
    held = ha.current_master().client().lrange(rt.queue.keys.buf(DEST), 0, -1)
    stored = {json.loads(raw)["e"]["messageId"] for raw in held}
    out.lost = out.acked - stored
    return out
