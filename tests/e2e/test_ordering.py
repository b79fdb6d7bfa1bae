"""``ordering: per_user`` across real worker processes: three workers drain one destination at
once through 500s and 429s, one is SIGKILLed mid-batch, and every user's events still reach the
vendor in the order received (a killed batch may be repeated, never overtaken)."""
from __future__ import annotations

import random
import threading
import time
from collections import defaultdict

import pytest

from router.app import create_app
from router.config import load_config
from router.runtime import Runtime
from tests.e2e.procs import Proc, write_config
from tests.fakes.http import FakeServer, Reply, Request

pytestmark = pytest.mark.e2e
USERS, PER_USER = 1000, 5


def test_three_worker_processes_keep_each_users_order_through_failures_and_a_crash(tmp_path, embedded):
    rng = random.Random(3)
    lock = threading.Lock()
    accepted: list[tuple[int, int]] = []

    def handle(req: Request) -> Reply:
        with lock:
            p = rng.random()
            if p < 0.1:
                return Reply(500, "down", delay=0.01)
            if p < 0.15:
                return Reply(429, "slow down", headers={"Retry-After": "1"})
            accepted.extend((e["properties"]["user"], e["properties"]["seq"]) for e in req.json())
        return Reply(200, {}, delay=0.02)

    with FakeServer(handle) as hook:
        config = write_config(tmp_path, [{"name": "crm", "type": "webhook", "batch_size": 50, "concurrency": 3,
                                          "ordering": "per_user", "settings": {"url": hook.base_url, "batch": True}}])
        procs = [Proc(config, "scheduler")] + [Proc(config, "worker") for _ in range(3)]
        try:
            rt = Runtime(load_config(str(config)))
            client = create_app(runtime=rt).test_client()
            events = [{"type": "track", "event": "Step", "messageId": f"m-{u}-{s}", "properties": {"user": u, "seq": s},
                       **({"anonymousId": f"a-{u}"} if u % 4 == 0 else {"userId": f"u-{u}"})}
                      for s in range(PER_USER) for u in range(USERS)]
            for i in range(0, len(events), 500):
                r = client.post("/v1/batch", json={"batch": events[i:i + 500], "writeKey": "e2e-write-key"})
                assert r.get_json()["accepted"] == 500
            hook.wait_for(20, timeout=30)
            procs[1].kill()  # a worker dies with a batch in hand; its lease lapses and the batch returns
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                with lock:
                    if len(set(accepted)) == len(events):
                        break
                time.sleep(0.2)
            with lock:
                got: dict[int, list[int]] = defaultdict(list)
                for user, seq in accepted:
                    got[user].append(seq)
            firsts = {u: list(dict.fromkeys(seqs)) for u, seqs in got.items()}
            assert {u: firsts.get(u) for u in range(USERS) if firsts.get(u) != list(range(PER_USER))} == {}
            # a repeat (the killed batch) comes back in order: each user's list is its order, then a run again
            for seqs in got.values():
                drops = sum(1 for a, b in zip(seqs, seqs[1:]) if b <= a)
                assert drops <= 1, seqs
            assert len(accepted) - len(events) <= 50  # only the killed batch may be repeated
            assert rt.queue.depth("crm")["dead_letters"] == 0
        finally:
            for p in procs:
                p.stop()
