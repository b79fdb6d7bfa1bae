"""RSS of the web and worker processes over 1M events (issue #14: ≤ 80 MB each), not a test.

    python bench/rss.py [--events 1000000] [--web-workers 2] [--workers 2] [--seconds 900] [--threads 8]

Starts an embedded Redis, the bench receiver, the web exactly as ``up`` runs it
(``gunicorn_command``), a scheduler and ``--workers`` delivery workers with a batching
webhook to the receiver. Posts ``--events`` ~1 KB track events from ``--threads`` threads
while the workers deliver: mostly 100-event /v1/batch requests, every 10th request a
/v1/track, and every 5th a batch with two rejected events (bad type) and a duplicate
of an earlier messageId, so the rejection, dedup and trace paths run too. Every ~50k
events it samples the RSS of each gunicorn worker, each delivery worker (with its
children: ``eventrouter worker`` is an RQ SimpleWorker, jobs run in its own process)
and the scheduler, and Redis used_memory; at the end it waits for the receiver to
count every accepted event and prints delivered/sent. Bounded by --events, --seconds
(posting) and --drain-seconds; 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import orjson
import psutil
import redis
import requests
import yaml

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

from bench.run import AUTH, WRITE_KEY, Procs, free_port, rss_mb, track_event, tree_rss, wait_http  # noqa: E402

PER_BATCH = 100
TRACK_EVERY = 10  # every 10th request is a /v1/track
MIXED_EVERY = 5  # every 5th request: a batch with 2 rejected events and 1 duplicate
SAMPLE_EVERY = 50_000


def templates() -> tuple[str, str, str]:
    """Request bodies with ``@@ID@@`` (fresh per request) and ``@@DUP@@`` (an earlier request's id)."""
    plain = orjson.dumps({"batch": [track_event(f"@@ID@@-{i}") for i in range(PER_BATCH)]}).decode()
    bad = [dict(track_event(f"@@ID@@-bad{i}"), type="bogus") for i in range(2)]
    dup = track_event("@@DUP@@-0")
    mixed_events = [track_event(f"@@ID@@-{i}") for i in range(PER_BATCH - 3)] + bad + [dup]
    mixed = orjson.dumps({"batch": mixed_events}).decode()
    one = orjson.dumps(track_event("@@ID@@-t")).decode()
    return plain, mixed, one


@dataclass
class Counts:
    """What the load threads posted, shared with the sampler."""

    events: int = 0  # every event posted: fresh, rejected and duplicates
    fresh: int = 0  # accepted: the events the receiver should get
    rejected: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class RssBench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="er-rss-"))
        self.env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
        self.procs = Procs(self.tmp, self.env, str(HERE))
        self.counts = Counts()
        self.rows: list[tuple[int, list[float], list[float], float, float]] = []

    # setup -------------------------------------------------------------------
    def start(self) -> None:
        from router.cli_processes import gunicorn_command
        from router.redis_server import EmbeddedRedis

        self.redis_server = EmbeddedRedis(self.tmp / "data")
        self.redis_server.start()
        self.r = redis.Redis.from_url(self.redis_server.url)
        self.env["REDIS_URL"] = self.redis_server.url
        recv_port = free_port()
        self.procs.start("receiver", [sys.executable, "-m", "bench.receiver", str(recv_port)])
        self.recv = f"http://127.0.0.1:{recv_port}"
        wait_http(self.recv + "/stats")
        cfg = {"redis_url": "embedded", "data_dir": str(self.tmp / "data"), "namespace": f"rss{uuid.uuid4().hex[:6]}",
               "sources": [{"name": "bench", "write_keys": [WRITE_KEY]}],
               "destinations": [{"name": "hook", "type": "webhook", "batch_size": 100,
                                 "settings": {"url": self.recv + "/hook", "batch": True}}]}
        path = self.tmp / "rss.yaml"
        path.write_text(yaml.safe_dump(cfg))
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.web = self.procs.start("web", gunicorn_command("127.0.0.1", port, self.args.web_workers),
                                    {"EVENTROUTER_CONFIG": str(path)})
        me = [sys.executable, "-m", "router.cli", "--config", str(path)]
        self.scheduler = self.procs.start("scheduler", me + ["scheduler"])
        self.workers = [self.procs.start("worker", me + ["worker"]) for _ in range(self.args.workers)]
        wait_http(self.base + "/healthz")
        time.sleep(2)  # workers registered before the first wake-up

    # load --------------------------------------------------------------------
    def post_loop(self, tid: int, deadline: float) -> None:
        plain, mixed, one = templates()
        s = requests.Session()
        s.headers.update({"Authorization": AUTH, "Content-Type": "application/json"})
        c = self.counts
        prev = f"w{tid}-first"  # no earlier request yet: the first "duplicate" is new
        for k in itertools.count():
            with c.lock:
                if c.events >= self.args.events or time.monotonic() > deadline or len(c.errors) > 20:
                    return
            rid = f"w{tid}-{k}"
            if k % TRACK_EVERY == TRACK_EVERY - 1:
                url, body, n = "/v1/track", one.replace("@@ID@@", rid), 1
            elif k % MIXED_EVERY == 0:
                url, body, n = "/v1/batch", mixed.replace("@@ID@@", rid).replace("@@DUP@@", prev), PER_BATCH
            else:
                url, body, n = "/v1/batch", plain.replace("@@ID@@", rid), PER_BATCH
            try:
                resp = s.post(self.base + url, data=body, timeout=30)
                answer = resp.json()
            except (requests.RequestException, ValueError) as exc:
                with c.lock:
                    c.errors.append(f"{url}: {exc!r}")
                continue
            if resp.status_code != 200:
                with c.lock:
                    c.errors.append(f"{url} {resp.status_code} {str(answer)[:200]}")
                continue
            fresh, rej, dup = 1, 0, 0  # a /v1/track answered 200
            if url == "/v1/batch":  # the answer says what became of each event
                fresh, rej, dup = answer["accepted"], len(answer["rejected"]), answer["duplicates"]
                prev = rid  # the next mixed batch repeats this request's first event
            with c.lock:
                c.events += n
                c.fresh += fresh
                c.rejected += rej
                c.duplicates += dup

    # samples -----------------------------------------------------------------
    def sample(self, events: int) -> None:
        web = tree_rss(self.web)
        workers = [sum(self.worker_tree(p)) for p in self.workers]
        sched = rss_mb(self.scheduler.pid)
        used = self.r.info("memory")["used_memory"] / 2**20
        self.rows.append((events, web, workers, sched, used))
        print(f"  {events:>9,} | web {' '.join(f'{x:5.1f}' for x in web)} | workers "
              f"{' '.join(f'{x:5.1f}' for x in workers)} | scheduler {sched:5.1f} | Redis {used:7.1f}", flush=True)

    @staticmethod
    def worker_tree(p: subprocess.Popen) -> list[float]:
        """The worker's RSS and, were jobs run in forked work-horses, theirs (SimpleWorker: none)."""
        proc = psutil.Process(p.pid)
        out = [rss_mb(p.pid)]
        for k in proc.children(recursive=True):
            try:
                out.append(rss_mb(k.pid))
            except psutil.NoSuchProcess:
                pass
        return out

    def drain(self) -> int:
        deadline = time.monotonic() + self.args.drain_seconds
        got = 0
        while time.monotonic() < deadline:
            got = requests.get(self.recv + "/stats", timeout=10).json()["count"]
            if got >= self.counts.fresh:
                break
            time.sleep(1)
        return got

    def run(self) -> None:
        try:
            self.start()
            print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; posting {self.args.events:,} events "
                  f"({self.args.threads} threads), RSS in MB", flush=True)
            self.sample(0)
            t0 = time.monotonic()
            deadline = t0 + self.args.seconds
            threads = [threading.Thread(target=self.post_loop, args=(i, deadline), daemon=True) for i in range(self.args.threads)]
            for t in threads:
                t.start()
            nxt = SAMPLE_EVERY
            while any(t.is_alive() for t in threads):
                time.sleep(0.5)
                if self.counts.events >= nxt:
                    self.sample(self.counts.events)
                    nxt = (self.counts.events // SAMPLE_EVERY + 1) * SAMPLE_EVERY
            took = time.monotonic() - t0
            self.sample(self.counts.events)
            got = self.drain()
            self.sample(self.counts.events)  # after the workers delivered everything
            self.report(got, took)
        finally:
            self.procs.stop_all()
            if getattr(self, "redis_server", None):
                self.redis_server.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def report(self, got: int, took: float) -> None:
        c = self.counts
        load = os.getloadavg()
        print()
        print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
              f"{c.events:,} events posted in {took:.0f} s ({c.events / max(took, 1e-9):,.0f}/s): {c.fresh:,} fresh, "
              f"{c.rejected:,} rejected, {c.duplicates:,} duplicates")
        print()
        print("| events | RSS per web process, MB | RSS per worker, MB | scheduler, MB | Redis used_memory, MB |")
        print("|---|---|---|---|---|")
        for events, web, workers, sched, used in self.rows:
            print(f"| {events:,} | {' / '.join(f'{x:.1f}' for x in web)} | {' / '.join(f'{x:.1f}' for x in workers)} "
                  f"| {sched:.1f} | {used:.1f} |")
        print()
        print(f"delivered/sent: {got:,}/{c.fresh:,} accepted events reached the receiver")
        web_max = max(max(r[1]) for r in self.rows)
        wk_max = max(max(r[2]) for r in self.rows)
        print(f"max RSS: web {web_max:.1f} MB, worker {wk_max:.1f} MB (goal ≤ 80 MB each after 1M events)")
        for e in c.errors[:10]:
            print(f"error: {e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--web-workers", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=900, help="bound on the posting phase")
    ap.add_argument("--threads", type=int, default=8, help="posting threads (keep-alive connections)")
    ap.add_argument("--drain-seconds", type=float, default=300, help="bound on waiting for the receiver afterwards")
    RssBench(ap.parse_args()).run()


if __name__ == "__main__":
    main()
