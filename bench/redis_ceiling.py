"""The ceiling of one Redis for this design, measured on this machine (not a test).

    python bench/redis_ceiling.py [--events 50000] [--batch 100] [--senders 4] [--web-workers 2] [--workers 2]
                                  [--per-event] [--no-trace]

Starts its own redis-server on 127.0.0.1 (AOF everysec, as in production), the web process
(gunicorn, --web-workers), a batching webhook receiver; posts --events in --batch-event
requests from --senders threads; then starts --workers workers and a scheduler and waits until
everything arrived. Around each phase it reads Redis's INFO cpu (used_cpu_user + used_cpu_sys)
and INFO memory (used_memory), and prints: events/s, Redis CPU µs per event, how busy the Redis
process was (CPU seconds per wall second: 1.0 is one saturated core — Redis runs commands on
one thread), memory per waiting event, and the events/s at which Redis would saturate.
Every loop is bounded in count and time; only loopback addresses are used.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.throughput import Receiver, ingest  # noqa: E402
from tests.e2e.procs import Proc, free_port, wait_http  # noqa: E402
from tests.e2e.redis_ha import binaries  # noqa: E402


def cpu(r: redis.Redis) -> float:
    info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def memory(r: redis.Redis) -> int:
    return int(r.info("memory")["used_memory"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--senders", type=int, default=4)
    ap.add_argument("--web-workers", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--per-event", action="store_true", help="webhook: one request per event instead of 100")
    ap.add_argument("--no-trace", action="store_true", help="trace: {max_events: 0} (no event traces)")
    args = ap.parse_args()
    server_bin = binaries()[0]
    if not server_bin:
        raise SystemExit("redis-server is not installed")
    tmp = Path(tempfile.mkdtemp(prefix="er-ceiling-"))
    port = free_port()
    redis_proc = subprocess.Popen([server_bin, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp),
                                   "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""],
                                  stdout=(tmp / "redis.log").open("wb"), stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    r = redis.Redis(port=port)
    for _ in range(100):
        try:
            r.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    receiver = Receiver().start()
    cfg = {"redis_url": url, "namespace": f"ceil{uuid.uuid4().hex[:6]}",
           "sources": [{"name": "bench", "write_keys": ["bench-key"]}],
           "destinations": [{"name": "hook", "type": "webhook", "batch_size": 100,
                             "settings": {"url": receiver.url, "batch": not args.per_event}}]}
    if args.no_trace:
        cfg["trace"] = {"max_events": 0}
    config = tmp / "eventrouter.yaml"
    config.write_text(yaml.safe_dump(cfg))
    env = {"REDIS_URL": url}
    web_port = free_port()
    procs = [Proc(config, "serve", "--port", str(web_port), "--web-workers", str(args.web_workers), env=env)]
    try:
        if not wait_http(f"http://127.0.0.1:{web_port}/healthz", 60):
            raise SystemExit("the web process did not come up:\n" + procs[0].output())
        c0, m0, t0 = cpu(r), memory(r), time.monotonic()
        accepted = ingest(web_port, args)
        c1, m1, t1 = cpu(r), memory(r), time.monotonic()
        procs.append(Proc(config, "scheduler", env=env))
        procs += [Proc(config, "worker", env=env) for _ in range(args.workers)]
        # worker start-up is not delivery: the clock starts at the first delivered event
        deadline = time.monotonic() + args.seconds
        while receiver.count == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        c2, t2 = cpu(r), time.monotonic()
        while receiver.count < accepted and time.monotonic() < deadline:
            time.sleep(0.02)
        c3, m3, t3 = cpu(r), memory(r), time.monotonic()
        delivered = receiver.count
        ing_us = (c1 - c0) / accepted * 1e6
        del_us = (c3 - c2) / max(1, delivered) * 1e6
        print(f"setup: {args.web_workers} web processes (gunicorn gevent), {args.workers} workers, {args.senders} senders, "
              f"{args.batch}-event batches, webhook {'1 event' if args.per_event else '100 events'} per request, "
              f"{os.cpu_count()} cores, traces {'off' if args.no_trace else 'on'}")
        print(f"ingest:   {accepted} events in {t1 - t0:.2f} s = {accepted / (t1 - t0):,.0f} events/s; "
              f"Redis CPU {c1 - c0:.2f} s = {ing_us:.1f} µs/event, Redis busy {(c1 - c0) / (t1 - t0):.2f} of a core")
        print(f"delivery: {delivered} events in {t3 - t2:.2f} s = {delivered / (t3 - t2):,.0f} events/s; "
              f"Redis CPU {c3 - c2:.2f} s = {del_us:.1f} µs/event, Redis busy {(c3 - c2) / (t3 - t2):.2f} of a core")
        print(f"memory:   {(m1 - m0) / accepted:,.0f} bytes per waiting event (used_memory {m0:,} -> {m1:,} after ingest, "
              f"{m3:,} after delivery: traces and metrics stay, for dedup_ttl / retention)")
        print(f"ceiling:  one Redis core saturates at 1e6 / ({ing_us:.1f} + {del_us:.1f}) = "
              f"{1e6 / (ing_us + del_us):,.0f} events/s in and out")
        if delivered < accepted:
            print(f"  incomplete: {accepted - delivered} events not delivered within {args.seconds:.0f} s")
    finally:
        for p in procs:
            p.stop()
        receiver.stop()
        redis_proc.terminate()
        redis_proc.wait(10)


if __name__ == "__main__":
    main()
