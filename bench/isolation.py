"""Isolation: a healthy destination's delivery latency while another one hangs (not a test).

    python bench/isolation.py [--timeout 10] [--rate 20] [--seconds 40] [--workers 2] [--batch-size N] [--busy N]

Starts an embedded Redis (or uses REDIS_URL), --workers worker processes and the
scheduler with the default delivery settings; two webhook destinations get every
event: one answers at once, one sleeps longer than its --timeout until the trickle
ends. Prints the healthy one's ingest -> received latency (p50/p95/max) and
whether every event reached the hanging one after it recovered. With --busy N the
other destination does not hang but has N events queued (a busy neighbour).
Bounded: --rate x --seconds events, then at most 120 s for the recovery.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from router.redis_server import EmbeddedRedis  # noqa: E402
from tests.e2e.isolation import measure  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=10.0, help="the hanging destination's timeout (its default: 10)")
    ap.add_argument("--rate", type=float, default=20.0, help="events per second, each to both destinations")
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=None, help="the hanging destination's batch_size (default 100)")
    ap.add_argument("--busy", type=int, default=0, metavar="N",
                    help="instead of hanging, the other destination answers at once and has N events queued")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp) / "data")
        server.start()
        try:
            result = measure(Path(tmp), timeout=args.timeout, rate=args.rate, seconds=args.seconds,
                             workers=args.workers, hanging_batch_size=args.batch_size, recover_within=120,
                             backlog=args.busy, hang=not args.busy)
        finally:
            server.stop()
    print(result.summary())
    missing = set(result.sent) - set(result.hanging)
    print(f"hanging destination: {len(missing)} events not delivered after recovery; depth {result.depth}")


if __name__ == "__main__":
    main()
