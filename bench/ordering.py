"""The cost of ``ordering: per_user``: delivery throughput with and without it (not a test).

    python bench/ordering.py [--users 10000] [--per-user 5] [--workers 2] [--batch 100] [--seconds 120]

For each mode (none, per_user): an embedded Redis, a batching webhook receiver on 127.0.0.1,
--users x --per-user events put in the buffer (users interleaved, as live traffic arrives), then
--workers worker processes and the scheduler deliver them; prints events/s (worker start-up
included) and how many of a user's events reached the receiver after a later one of the same
user. Rates run from the first delivered request to the last (or to 90% of the events: the
tail of long retries left out), worker start-up excluded;
--fail makes the receiver answer 500 to that fraction of requests (retries back off from
200 ms, at most 2 s). Run it with many users (the common case) and with few heavy users (--users 20
--per-user 2500), where the per-batch cap of one user's events (router/queue.py PER_USER) shows.
--redis-cost measures only the Redis CPU the claim and settle scripts use per event.
Every loop is bounded in count and time; only loopback addresses are used.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from router.app import create_app  # noqa: E402
from router.config import load_config  # noqa: E402
from router.ordering import order_key  # noqa: E402
from router.queue import DeliveryQueue, Settlement, UserOrder  # noqa: E402
from router.envelopes import envelope  # noqa: E402
from router.redis_server import EmbeddedRedis, connect  # noqa: E402
from router.runtime import Runtime  # noqa: E402
from tests.e2e.procs import Proc, write_config  # noqa: E402
from tests.fakes.http import FakeServer, Reply, Request  # noqa: E402


class Receiver(FakeServer):
    """Counts events and the ones that arrive after a later event of their user."""

    def __init__(self, fail: float) -> None:
        super().__init__(self.receive)
        self.fail = fail
        self.rng = random.Random(16)
        self.first = self.end = 0.0
        self.total = 0
        self.p90 = 0.0  # when 90% had arrived: the tail of long retries left out
        self.count = 0
        self.late = 0
        self.last: dict[int, int] = {}
        self.lock = threading.Lock()

    def receive(self, req: Request) -> Reply:
        with self.lock:
            if self.rng.random() < self.fail:
                return Reply(500, "injected failure")
            self.first = self.first or time.monotonic()
            self.end = time.monotonic()
            for e in req.json():
                user, seq = e["properties"]["user"], e["properties"]["seq"]
                if self.last.get(user, -1) > seq:
                    self.late += 1
                self.last[user] = max(seq, self.last.get(user, -1))
                self.count += 1
            if not self.p90 and self.count >= 0.9 * self.total:
                self.p90 = time.monotonic()
        return Reply(200, {})


def run(mode: str, args: argparse.Namespace) -> tuple[float, float, int]:
    total = args.users * args.per_user
    with tempfile.TemporaryDirectory() as tmp, Receiver(args.fail) as hook:
        tmp_path = Path(tmp)
        hook.total = total
        redis_server = EmbeddedRedis(tmp_path / "data")
        redis_server.start()
        procs: list[Proc] = []
        try:
            dest = {"name": "crm", "type": "webhook", "batch_size": args.batch, "concurrency": args.workers,
                    "ordering": mode, "settings": {"url": hook.base_url, "batch": True}}
            config = write_config(tmp_path, [dest], delivery={"lease": "30s", "tick": "200ms", "retry_base": "200ms", "retry_max": "2s"})
            rt = Runtime(load_config(str(config)))
            client = create_app(runtime=rt).test_client()
            batch: list[dict] = []
            for s in range(args.per_user):
                for u in range(args.users):
                    batch.append({"type": "track", "event": "Step", "userId": f"u-{u}", "messageId": f"m-{u}-{s}",
                                  "properties": {"user": u, "seq": s}})
                    if len(batch) == 500:
                        assert client.post("/v1/batch", json={"batch": batch, "writeKey": "e2e-write-key"}).status_code == 200
                        batch = []
            if batch:
                assert client.post("/v1/batch", json={"batch": batch, "writeKey": "e2e-write-key"}).status_code == 200
            started = time.monotonic()
            procs = [Proc(config, "scheduler")] + [Proc(config, "worker") for _ in range(args.workers)]
            deadline = started + args.seconds
            while hook.count < total and time.monotonic() < deadline:
                time.sleep(0.05)
            if hook.count < total:
                print(f"  {mode}: only {hook.count}/{total} delivered in {args.seconds}s")
            return (hook.count / max(1e-3, hook.end - hook.first), 0.9 * total / max(1e-3, hook.p90 - hook.first),
                    hook.late)
        finally:
            for p in procs:
                p.stop()
            redis_server.stop()


def redis_cost(users: int, per_user: int) -> None:
    """Redis CPU per event of claim + settle alone (no HTTP, no worker): INFO commandstats."""
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp) / "data")
        server.start()
        try:
            r = connect(server.url)
            for ordered in (False, True):
                r.flushall()
                dq = DeliveryQueue(r, "bench")
                envs = [envelope({"type": "track", "event": "x", "userId": f"u{u}"}, f"{u}-{s}", 1)
                        for s in range(per_user) for u in range(users)]
                for i in range(0, len(envs), 1000):
                    r.rpush(dq.keys.buf("d"), *envs[i:i + 1000])
                r.config_resetstat()
                for k in range(len(envs)):  # bounded: at most one claim per event
                    c = dq.claim("d", "tok", f"b{k}", 100, 1, ordered=ordered)
                    if not c.items and not c.more:
                        break
                    s = Settlement()
                    if ordered:
                        s.ordered = UserOrder(held={order_key(json.loads(x)): [] for x in c.items})
                    dq.settle("d", c.batch_id, s, 60)
                used = r.info("commandstats")["cmdstat_evalsha"]["usec"]
                print(f"  ordering {'per_user' if ordered else 'none':8}  {used / len(envs):5.1f} us of Redis CPU per event (claim + settle)")
        finally:
            server.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--per-user", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--fail", type=float, default=0.0, help="fraction of requests the receiver answers 500")
    ap.add_argument("--redis-cost", action="store_true", help="only measure the scripts' Redis CPU per event")
    args = ap.parse_args()
    if args.redis_cost:
        print(f"{args.users} users x {args.per_user} events, batches of 100")
        redis_cost(args.users, args.per_user)
        return
    print(f"{args.users} users x {args.per_user} events, {args.workers} workers, batches of {args.batch}, "
          f"{args.fail:.0%} of requests fail")
    results = {}
    for mode in ("none", "per_user"):
        rate, rate90, late = run(mode, args)
        results[mode] = (rate, rate90)
        print(f"  ordering {mode:8}  {rate:8.0f} events/s all delivered  {rate90:8.0f} events/s the first 90%  "
              f"{late} events arrived after a later one of their user")
    (all_none, p90_none), (all_user, p90_user) = results["none"], results["per_user"]
    print(f"  per_user costs {100 * (1 - all_user / all_none):.0f}% of the unordered throughput "
          f"({100 * (1 - p90_user / p90_none):.0f}% for the first 90%)")


if __name__ == "__main__":
    main()
