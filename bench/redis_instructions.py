"""Redis instructions per event of ingest and delivery, counted by callgrind (not a test).

    PYTHONPATH=<tree> python bench/redis_instructions.py [--mode batch|track] [--trace-cap N --warm N]

CPU time swings with whatever else runs on the machine; instruction counts do not. This runs
bench/cpu_cost.py's workload (/v1/batch requests of 100 events, or /v1/track requests of one,
through the Flask app, drained by the delivery job's Drainer to a local batching webhook) against a
redis-server (AOF everysec, as the embedded one) under ``valgrind --tool=callgrind``, and prints the
instructions Redis executed per event in each phase, and the commands per event that ingest ran.
Needs valgrind (``apt-get install valgrind``); about 50 times slower than Redis itself, so keep
--events small. ``--warm`` events are ingested and drained first (``--trace-cap 1000 --warm 2000``:
the trace ring is full, so every new trace evicts one).
"""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from router.app import create_app
from router.config import parse_config
from router.delivery import Drainer
from router.redis_server import connect, redis_executable
from router.runtime import Runtime

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.fakes.http import FakeServer  # noqa: E402


class Callgrind:
    """A redis-server under callgrind, instrumented only while ``count`` runs."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="er-cg-")
        sock = f"{self.dir}/redis.sock"
        self.process = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={self.dir}/cg.out",
             redis_executable(), "--port", "0", "--unixsocket", sock, "--dir", self.dir,
             "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.url = f"unix://{sock}"

    def _control(self, *args: str) -> None:
        subprocess.run(["callgrind_control", *args, str(self.process.pid)], stdout=subprocess.DEVNULL, check=False)

    def count(self, work: Callable[[], Any], keep: str = "") -> int:
        """Instructions Redis executed while ``work`` ran (``keep``: copy callgrind's dump there,
        for ``callgrind_annotate``)."""
        for old in glob.glob(f"{self.dir}/cg.out*"):
            os.remove(old)
        self._control("-z")
        self._control("-i", "on")
        work()
        self._control("-i", "off")
        self._control("-d")
        dump = max(glob.glob(f"{self.dir}/cg.out*"), key=os.path.getmtime)
        if keep:
            shutil.copy(dump, keep)
        totals = [line for line in open(dump) if line.startswith(("totals:", "summary:"))]
        return int(totals[-1].split()[1])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def per_event(commandstats: dict[str, Any], events: int) -> dict[str, float]:
    """``INFO commandstats`` as calls per event, by command name."""
    return {k[8:]: v["calls"] / events for k, v in commandstats.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--mode", choices=["batch", "track"], default="batch")
    ap.add_argument("--trace-cap", type=int, default=None, help="trace: {max_events: N}")
    ap.add_argument("--warm", type=int, default=0, help="events ingested and drained before counting")
    ap.add_argument("--keep", default="", help="copy the delivery phase's callgrind dump to this file")
    args = ap.parse_args()
    server = Callgrind()
    r = connect(server.url, socket_timeout=300)
    ns = f"cg{uuid.uuid4().hex[:6]}"
    try:
        with FakeServer() as hook:
            cfg: dict[str, Any] = {
                "redis_url": "redis://unused", "namespace": ns, "sources": [{"name": "bench", "write_keys": ["k"]}],
                "destinations": [{"name": "hook", "type": "webhook", "batch_size": 100,
                                  "settings": {"url": hook.base_url, "batch": True}}]}
            if args.trace_cap is not None:
                cfg["trace"] = {"max_events": args.trace_cap}
            os.environ.pop("REDIS_URL", None)
            client = create_app(runtime=(rt := Runtime(parse_config(cfg), r))).test_client()

            def event(tag: str, n: int) -> dict[str, Any]:
                return {"type": "track", "userId": f"user-{tag}{n}", "event": "Order Completed",
                        "messageId": str(uuid.uuid4()), "properties": {"order_id": f"o-{n}", "revenue": 12.5}}

            def ingest(tag: str, events: int) -> None:
                if args.mode == "batch":
                    for n in range(0, events, 100):
                        batch = [event(tag, n + i) for i in range(100)]
                        assert client.post("/v1/batch", json={"batch": batch}, auth=("k", "")).status_code == 200
                else:
                    for n in range(events):
                        assert client.post("/v1/track", json=event(tag, n), auth=("k", "")).status_code == 200

            def drain() -> None:
                deadline = time.monotonic() + 600
                while r.llen(f"{ns}:buf:hook") and time.monotonic() < deadline:
                    Drainer(rt, "hook", "bench").run()

            if args.warm:
                ingest("w", args.warm)
                drain()
            r.config_resetstat()
            ingested = server.count(lambda: ingest("m", args.events))
            calls = per_event(r.info("commandstats"), args.events)
            r.config_resetstat()
            delivered = server.count(drain, args.keep)
            drained = per_event(r.info("commandstats"), args.events)
        print(f"{args.mode}, trace cap {args.trace_cap}: Redis instructions per event: "
              f"ingest {ingested / args.events / 1000:.1f}k, delivery {delivered / args.events / 1000:.1f}k")
        for phase, counts in (("ingest", calls), ("delivery", drained)):
            print(f"{phase} commands per event: " + ", ".join(
                f"{k} {v:.2f}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]) if v >= 0.005 and k not in ("config", "info")))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
