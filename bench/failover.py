"""Redis failover and the cost of ``durability: replicated``, measured on this machine (not a test).

    python bench/failover.py [--requests 2000]

1. cost: a master with one replica (AOF everysec, 127.0.0.1); the Flask app (in process, one
   thread) posts --requests single events and --requests/10 batches of 100, alternating
   durability async and replicated request by request; prints requests/s and p50/p99 of each;
2. failover: for async (one replica), replicated (two replicas) and replicated (one replica,
   the killed node restarted as a process manager would): a steady load of 5-event batches,
   the master SIGKILLed, then how long ingest gave no 200, how many 503s, how many acked
   events the promoted master lacks (tests/e2e/failover.py).
Needs redis-server and redis-sentinel (apt-get install redis-sentinel).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from router.app import create_app  # noqa: E402
from tests.e2e import failover  # noqa: E402
from tests.e2e.redis_ha import RedisHA, missing  # noqa: E402
from tests.helpers import WRITE_KEY  # noqa: E402


def cost(ha: RedisHA, requests: int, batch: int) -> list[str]:
    """Requests alternate between an async and a replicated app, so that whatever else the
    machine does weighs on both alike."""
    clients = {mode: create_app(runtime=failover.runtime_for(ha.url, mode)).test_client() for mode in ("async", "replicated")}
    took: dict[str, list[float]] = {mode: [] for mode in clients}
    deadline = time.monotonic() + 120
    for n in range(requests):
        if time.monotonic() > deadline:
            break
        for mode, client in clients.items():
            body = {"batch": [{"type": "track", "event": "Bench", "userId": f"u{n}", "messageId": uuid.uuid4().hex}
                              for _ in range(batch)], "writeKey": WRITE_KEY}
            t0 = time.perf_counter()
            r = client.post("/v1/batch", json=body)
            took[mode].append(time.perf_counter() - t0)
            assert r.status_code == 200, r.get_data(as_text=True)
    lines = []
    for mode, t in took.items():
        t.sort()
        lines.append(f"{mode:10} batch {batch:3}: {len(t) / sum(t):7.0f} requests/s = {len(t) * batch / sum(t):7.0f} events/s, "
                     f"p50 {t[len(t) // 2] * 1000:.2f} ms, p99 {t[int(len(t) * 0.99)] * 1000:.2f} ms")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    if missing():
        raise SystemExit(missing())
    tmp = Path(tempfile.mkdtemp(prefix="er-failover-"))
    ha = RedisHA(tmp / "cost").start()
    try:
        print("== cost of durability: replicated (one replica, loopback)")
        for batch, n in ((1, args.requests), (100, max(1, args.requests // 10))):
            print("\n".join(cost(ha, n, batch)))
    finally:
        ha.stop()
    print("== failover: master SIGKILLed under a steady load (100 requests/s of 5 events)")
    for label, mode, replicas, restart in (("async, 1 replica", "async", 1, False),
                                           ("replicated, 2 replicas", "replicated", 2, False),
                                           ("replicated, 1 replica, killed node restarted", "replicated", 1, True)):
        ha = RedisHA(tmp / label.replace(" ", "_").replace(",", ""), replicas=replicas).start()
        try:
            out = failover.run(ha, mode, restart_old_master=restart)
            print(f"{label}: " + out.summary(mode))
        finally:
            ha.stop()


if __name__ == "__main__":
    main()
