"""Every figure of issue #14 beside its ceiling, in one run (not a test).

    python -m bench [--quick] [--tree PATH] [--delivery-rounds N] [--no-trace]    (or python bench/run.py)

Starts an embedded Redis, a receiver (bench/receiver.py), eventrouter's web exactly as
``up`` runs it (``gunicorn_command``: gevent workers), the bare app (bench/bare.py) on the
same gunicorn setup, and delivery workers; drives HTTP load with wrk (``apt-get install -y
wrk``; a Python load generator when wrk is missing) and prints a table: each figure, its
ceiling measured in the same run, and the ratio. ``--quick``: about a minute. ``--tree``:
measure another checkout's router (e.g. the code before a change); the bench stays this one.
``--no-trace``: eventrouter with ``trace: {max_events: 0}``, to see what event traces cost.
Everything is bounded in time and count and listens on 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import base64
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import psutil
import redis
import requests
import yaml

HERE = Path(__file__).resolve().parents[1]
WRITE_KEY = "bench-key"
AUTH = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()


def track_event(mid: str, t0: float | None = None) -> dict[str, Any]:
    """A realistic ~1 KB analytics.js-style track call."""
    props: dict[str, Any] = {
        "order_id": f"o-{mid}", "checkout_id": "c-8f14e45fceea167a", "total": 127.5, "revenue": 115.0,
        "shipping": 7.5, "tax": 5.0, "discount": 2.5, "coupon": "WINTER10", "currency": "EUR",
        "products": [{"product_id": "p-5073", "sku": "SKU-45790", "name": "Trail shoe", "price": 57.5, "quantity": 2,
                      "category": "Shoes"}],
    }
    if t0 is not None:
        props["t0"] = t0
    return {
        "type": "track", "event": "Order Completed", "userId": f"user-{mid}", "anonymousId": "a4d1c7e2-9b3f-4e2a-8d6c-1f0e9b7a5c3d",
        "messageId": f"m-{mid}", "timestamp": "2026-12-01T12:00:00.000Z", "sentAt": "2026-12-01T12:00:00.120Z",
        "properties": props,
        "context": {
            "ip": "127.0.0.1", "locale": "fi-FI", "timezone": "Europe/Helsinki",
            "library": {"name": "analytics.js", "version": "next-1.70.0"},
            "page": {"path": "/checkout/complete", "referrer": "https://shop.example/cart", "title": "Thank you",
                     "url": "https://shop.example/checkout/complete"},
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
            "campaign": {"name": "winter", "source": "newsletter", "medium": "email"},
        },
        "integrations": {},
    }


def batch_body(n: int) -> str:
    return orjson.dumps({"batch": [track_event(f"@@ID@@-{i}") for i in range(n)]}).decode()


class Procs:
    """Child processes of the bench, each in its own session; all stopped at the end."""

    def __init__(self, tmp: Path, env: dict[str, str], cwd: str) -> None:
        self.tmp, self.env, self.cwd, self.all = tmp, env, cwd, []

    def start(self, name: str, cmd: list[str], env: dict[str, str] | None = None, own: bool = False) -> subprocess.Popen:
        """``own``: a part of the bench (receiver, bare apps), run from this checkout whatever --tree is."""
        log = (self.tmp / f"{name}-{uuid.uuid4().hex[:4]}.log").open("wb")
        env = {**self.env, **(env or {})}
        if own:
            env["PYTHONPATH"] = os.pathsep.join([str(HERE), env["PYTHONPATH"]])
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(HERE) if own else self.cwd,
                             start_new_session=True)
        p.name = name  # type: ignore[attr-defined]
        self.all.append(p)
        return p

    def stop(self, p: subprocess.Popen) -> None:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
        if p in self.all:
            self.all.remove(p)

    def stop_all(self) -> None:
        for p in list(self.all):
            self.stop(p)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def cpu_seconds(p: subprocess.Popen) -> float:
    """CPU (user + system) used so far by a process and its children (gunicorn's workers)."""
    proc = psutil.Process(p.pid)
    total = 0.0
    for x in [proc, *proc.children(recursive=True)]:
        try:
            t = x.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def tree_rss(p: subprocess.Popen) -> list[float]:
    """RSS of a process's children (gunicorn's workers), or of the process itself."""
    proc = psutil.Process(p.pid)
    kids = proc.children(recursive=True)
    return [rss_mb(k.pid) for k in kids] or [rss_mb(p.pid)]


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.q = args.quick
        self.tmp = Path(tempfile.mkdtemp(prefix="er-bench-"))
        self.rows: list[tuple[str, str, str, str]] = []
        self.notes: list[str] = []
        tree = str(Path(args.tree).resolve()) if args.tree else str(HERE)
        self.tree = tree
        self.env = dict(os.environ, PYTHONPATH=os.pathsep.join([tree, str(HERE)]))
        # cwd: `python -m` puts it first on sys.path, so it decides whose router runs
        self.procs = Procs(self.tmp, self.env, tree)

    # setup -----------------------------------------------------------------
    def config(self, name: str, dests: list[dict[str, Any]]) -> Path:
        cfg = {"redis_url": "embedded", "data_dir": str(self.tmp / "data"), "namespace": self.ns,
               "sources": [{"name": "bench", "write_keys": [WRITE_KEY]}], "destinations": dests}
        if self.args.no_trace:
            cfg["trace"] = {"max_events": 0}
        path = self.tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        return path

    def start(self) -> None:
        from router.redis_server import EmbeddedRedis  # the tree's own, as `up` starts it

        self.ns = f"bench{uuid.uuid4().hex[:6]}"
        self.redis_server = EmbeddedRedis(self.tmp / "data")
        self.redis_server.start()
        self.redis_url = self.redis_server.url
        self.r = redis.Redis.from_url(self.redis_url)
        self.env["REDIS_URL"] = self.redis_url
        self.recv_port = free_port()
        self.procs.start("receiver", [sys.executable, "-m", "bench.receiver", str(self.recv_port)], own=True)
        self.recv = f"http://127.0.0.1:{self.recv_port}"
        wait_http(self.recv + "/stats")
        self.cfg_batch = self.config("batching", [{"name": "hook", "type": "webhook", "batch_size": 100,
                                                   "settings": {"url": self.recv + "/hook", "batch": True}}])
        self.cfg_each = self.config("each", [{"name": "each", "type": "webhook", "batch_size": 100,
                                              "settings": {"url": self.recv + "/each", "batch": False}}])
        try:
            from router.cli_processes import gunicorn_command
        except ModuleNotFoundError as exc:  # a --tree from before router/cli.py was split
            if exc.name != "router.cli_processes":
                raise
            from router.cli import gunicorn_command

        self.web_port, self.bare_port, self.wsgi_port = free_port(), free_port(), free_port()
        self.web = self.procs.start("web", gunicorn_command("127.0.0.1", self.web_port, self.args.web_workers),
                                    {"EVENTROUTER_CONFIG": str(self.cfg_batch)})
        bare_cmd = gunicorn_command("127.0.0.1", self.bare_port, self.args.web_workers)
        self.bare = self.procs.start("bare", bare_cmd[:-1] + ["bench.bare:app"], {"BARE_KEY": f"{self.ns}:bare"}, own=True)
        wsgi_cmd = gunicorn_command("127.0.0.1", self.wsgi_port, self.args.web_workers)
        self.bare_wsgi = self.procs.start("bare-wsgi", wsgi_cmd[:-1] + ["bench.bare:wsgi"], {"BARE_KEY": f"{self.ns}:bare"}, own=True)
        wait_http(f"http://127.0.0.1:{self.web_port}/healthz")
        wait_http(f"http://127.0.0.1:{self.bare_port}/v1/nothing")
        wait_http(f"http://127.0.0.1:{self.wsgi_port}/v1/nothing")

    def workers(self, cfg: Path, n: int) -> list[subprocess.Popen]:
        me = [sys.executable, "-m", "router.cli", "--config", str(cfg)]
        return [self.procs.start("scheduler", me + ["scheduler"])] + [self.procs.start("worker", me + ["worker"]) for _ in range(n)]

    def redis_cpu(self) -> float:
        info = self.r.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def stats(self) -> dict[str, Any]:
        return requests.get(self.recv + "/stats", timeout=10).json()

    def reset(self) -> None:
        requests.post(self.recv + "/reset", timeout=10)

    def row(self, what: str, ours: str, ceiling: str, ratio: float | None, goal: str) -> None:
        self.rows.append((what, ours, ceiling, f"{ratio:.2f}" if ratio is not None else "", goal))
        print(f"  {what}: {ours} | {ceiling} | {'' if ratio is None else f'{ratio:.2f}'} (goal {goal})", flush=True)

    # ingest ----------------------------------------------------------------
    def ingest(self) -> None:
        from bench import load

        secs = 8 if self.q else 15
        rounds = 1 if self.q else 3
        body = batch_body(100)
        self.event_json = len(orjson.dumps(track_event("x" * 8 + "-1")))
        one = orjson.dumps(track_event("@@ID@@")).decode()
        res: dict[str, list[load.Load]] = {k: [] for k in ("rb", "bb", "wb", "rt", "bt", "wt")}
        cpu: dict[str, list[tuple[float, float]]] = {k: [] for k in res}  # µs per event: web processes, Redis
        web, bare = f"http://127.0.0.1:{self.web_port}", f"http://127.0.0.1:{self.bare_port}"
        bare_wsgi = f"http://127.0.0.1:{self.wsgi_port}"

        def measured(key: str, proc: subprocess.Popen, url: str, text: str, conns: int, per: int, prefix: str) -> None:
            c0, r0 = cpu_seconds(proc), self.redis_cpu()
            out = load.run(url, text, AUTH, connections=conns, seconds=secs, prefix=prefix)
            res[key].append(out)
            n = max(out.requests * per, 1)
            cpu[key].append(((cpu_seconds(proc) - c0) / n * 1e6, (self.redis_cpu() - r0) / n * 1e6))

        for k in range(rounds):
            measured("rb", self.web, web + "/v1/batch", body, 8, 100, f"b{k}")
            measured("bb", self.bare, bare + "/v1/batch", body, 8, 100, f"b{k}")
            measured("wb", self.bare_wsgi, bare_wsgi + "/v1/batch", body, 8, 100, f"b{k}")
            measured("rt", self.web, web + "/v1/track", one, 32, 1, f"t{k}")
            measured("bt", self.bare, bare + "/v1/track", one, 32, 1, f"t{k}")
            measured("wt", self.bare_wsgi, bare_wsgi + "/v1/track", one, 32, 1, f"t{k}")
        for k, runs in res.items():
            bad = sum(x.errors for x in runs)
            if bad:
                self.notes.append(f"{bad} non-200 answers or socket errors in {k} (see the logs in {self.tmp})")

        def med(key: str, f) -> float:
            return statistics.median(f(x) for x in res[key])

        rb, bb = med("rb", lambda x: x.rate * 100), med("bb", lambda x: x.rate * 100)
        self.row("/v1/batch, 100 × ~1 KB track, events/s", f"{rb:,.0f} (p50 {med('rb', lambda x: x.p50_ms):.0f} ms, "
                 f"p99 {med('rb', lambda x: x.p99_ms):.0f} ms)", f"{bb:,.0f} bare parse+RPUSH", rb / bb, "≥ 0.7")
        def cpu_row(what: str, ours: str, bare: str) -> None:
            (w, r), (bw, br) = [tuple(statistics.median(x[i] for x in cpu[k]) for i in (0, 1)) for k in (ours, bare)]
            self.row(what, f"web {w:,.0f} + Redis {r:,.0f}", f"web {bw:,.0f} + Redis {br:,.0f} bare", (bw + br) / (w + r),
                     "(the throughput ratio when CPU bound)")

        cpu_row("/v1/batch CPU per event, µs", "rb", "bb")
        wb = med("wb", lambda x: x.rate * 100)
        self.row("/v1/batch beside a bare app without Flask, events/s", f"{rb:,.0f}", f"{wb:,.0f} bare WSGI parse+RPUSH",
                 rb / wb, "(not a goal: the stack below Flask)")
        rt, bt = med("rt", lambda x: x.rate), med("bt", lambda x: x.rate)
        self.row("/v1/track, req/s", f"{rt:,.0f} (p50 {med('rt', lambda x: x.p50_ms):.1f} ms, p99 {med('rt', lambda x: x.p99_ms):.1f} ms)",
                 f"{bt:,.0f} bare", rt / bt, "≥ 0.85")
        cpu_row("/v1/track CPU per request, µs", "rt", "bt")
        wt = med("wt", lambda x: x.rate)
        self.row("/v1/track beside a bare app without Flask, req/s", f"{rt:,.0f}", f"{wt:,.0f} bare WSGI", rt / wt,
                 "(not a goal: the stack below Flask)")
        # half the saturated rate, paced: 16 connections, each waiting between requests
        conns = 16
        gap = max(1, round(conns * 1000 / (rt / 2)))
        half = load.run(web + "/v1/track", one, AUTH, connections=conns, seconds=secs, gap_ms=gap, prefix="h")
        # the same paced load on the bare app: what the stack's own latency is at that pace on this machine
        floor = load.run(bare + "/v1/track", one, AUTH, connections=conns, seconds=secs, gap_ms=gap, prefix="hb")
        self.row("/v1/track p99 at half the saturated rate", f"{half.p99_ms:.1f} ms at {half.rate:,.0f} req/s "
                 f"(p50 {half.p50_ms:.1f} ms)", f"bare at the same pace: p99 {floor.p99_ms:.1f} ms at {floor.rate:,.0f} req/s "
                 f"(p50 {floor.p50_ms:.1f} ms)", None, "≤ 10 ms")
        self.ingest_results = res

    # memory ----------------------------------------------------------------
    def memory(self) -> None:
        self.r.delete(f"{self.ns}:bare")
        key = f"{self.ns}:buf:hook"
        n = self.r.llen(key)
        per = (self.r.memory_usage(key, samples=0) or 0) / max(n, 1)
        total = self.r.info("memory")["used_memory"] / max(n, 1)
        self.row("Redis memory per buffered event", f"{per:,.0f} B in the buffer ({total:,.0f} B/event of used_memory "
                 f"with dedup keys, traces, metrics; {n:,} events)", f"{self.event_json:,} B its JSON", per / self.event_json, "≤ 1.5")
        self.buffered = n

    # delivery --------------------------------------------------------------
    def drain(self, expect: int, seconds: float) -> tuple[int, float]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            s = self.stats()
            if s["count"] >= expect:
                break
            time.sleep(0.2)
        s = self.stats()
        return s["count"], max(s["last"] - s["first"], 1) / 1000

    def bare_deliver(self, mode: str, count: int, seconds: float) -> float:
        key = f"{self.ns}:bareraw"
        self.r.delete(key)
        one = orjson.dumps(track_event("bare-1"))
        for start in range(0, count, 1000):
            self.r.rpush(key, *[one] * min(1000, count - start))
        self.reset()
        p = self.procs.start("bare-deliver", [sys.executable, "-m", "bench.bare", "deliver", self.redis_url, key,
                                              f"{self.recv}/{mode}", mode, str(count), str(seconds)], own=True)
        p.wait(seconds + 30)
        got, took = self.drain(count, 5)
        return got / took

    def delivery(self) -> None:
        from router.config import parse_config
        from router.runtime import Runtime

        n = min(self.buffered, 60_000 if self.q else 200_000)
        key = f"{self.ns}:buf:hook"
        self.r.ltrim(key, 0, n - 1)
        # the workers start (imports, registration) before the clock does: the buffer waits aside
        self.r.rename(key, f"{key}:aside")
        procs = self.workers(self.cfg_batch, 2)
        time.sleep(3)
        self.r.rename(f"{key}:aside", key)
        self.reset()
        batching = Runtime(parse_config(yaml.safe_load(self.cfg_batch.read_text()), str(self.cfg_batch)), self.r)
        self.r.delete(batching.queue.keys.drainers("hook"))  # the ingest phase's drain job found nothing and is gone
        batching.wake([("hook", batching.queue.push("hook", []))])
        got, took = self.drain(n, 120 if self.q else 300)
        ours = got / took
        for p in procs:
            self.procs.stop(p)
        bare = self.bare_deliver("batch", n, 120)
        note = "" if got >= n else f", only {got:,} of {n:,} within the time bound"
        self.row("delivery, batching webhook, 2 workers, events/s", f"{ours:,.0f}{note}",
                 f"{bare:,.0f} bare LPOP 100 + POST loop", ours / bare, "≥ 0.8")

        m = 3_000 if self.q else 10_000
        rt = Runtime(parse_config(yaml.safe_load(self.cfg_each.read_text()), str(self.cfg_each)), self.r)
        procs = self.workers(self.cfg_each, 2)
        time.sleep(3)  # workers up before the clock starts
        self.reset()
        rt.enqueue("each", [track_event(f"e-{i}") for i in range(m)])
        got, took = self.drain(m, 120 if self.q else 300)
        ours = got / took
        for p in procs:
            self.procs.stop(p)
        bare = self.bare_deliver("each", m, 120)
        self.row("delivery, one request per event, 2 workers, events/s", f"{ours:,.0f}",
                 f"{bare:,.0f} bare loop posting one by one", ours / bare, "≥ 0.8")

    # end to end ------------------------------------------------------------
    def end_to_end(self) -> None:
        self.r.delete(f"{self.ns}:buf:hook")
        self.reset()
        workers = self.workers(self.cfg_batch, 2)
        time.sleep(3)  # workers up before the clock starts
        secs = 15 if self.q else 60
        s = requests.Session()
        s.auth = (WRITE_KEY, "")
        url = f"http://127.0.0.1:{self.web_port}/v1/batch"
        per, tick = 50, 0.05  # 50 events every 50 ms = 1,000 events/s
        sent, start = 0, time.monotonic()
        k = 0
        while time.monotonic() - start < secs:
            t0 = time.time() * 1000
            body = orjson.dumps({"batch": [track_event(f"s-{k}-{i}", t0) for i in range(per)]})
            s.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10).raise_for_status()
            sent += per
            k += 1
            pause = start + k * tick - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        rate = sent / (time.monotonic() - start)
        got, _ = self.drain(sent, 30)
        lat = sorted(self.stats()["lat"])
        q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [float("nan")] * 99
        self.row("end to end (200 → vendor has it), steady load", f"p99 {q[98]:,.0f} ms, p50 {q[49]:,.0f} ms at {rate:,.0f} events/s "
                 f"({got:,}/{sent:,} arrived)", "", None, "p99 ≤ 1,000 ms at 1,000/s")
        self.rss(workers)

    def rss(self, workers: list[subprocess.Popen]) -> None:
        web = tree_rss(self.web)
        bare = tree_rss(self.bare)
        wk = [rss_mb(p.pid) for p in workers if p.name == "worker"]  # type: ignore[attr-defined]
        total = sum(x.requests for x in self.ingest_results["rb"]) * 100 + sum(x.requests for x in self.ingest_results["rt"])
        self.row("RSS per web process", f"max {max(web):.0f} MB (after {total:,} events)", f"{max(bare):.0f} MB bare", None,
                 "≤ 80 MB after 1M: python bench/rss.py")
        self.row("RSS per delivery worker", f"max {max(wk):.0f} MB", "", None, "≤ 80 MB after 1M: python bench/rss.py")

    # report ----------------------------------------------------------------
    def report(self) -> None:
        load = os.getloadavg()
        cpu = platform.processor() or platform.machine()
        try:
            cpu = next(l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name"))
        except (OSError, StopIteration):
            pass
        from bench import load as loadgen

        print()
        print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} × {cpu}, "
              f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; load generator: "
              f"{'wrk' if loadgen.have_wrk() else 'Python (wrk not installed)'}; router tree {self.tree}; "
              f"{'--quick' if self.q else 'full'} run{' without event traces' if self.args.no_trace else ''}")
        print()
        print("| figure | eventrouter | ceiling in the same run | ratio | goal |")
        print("|---|---|---|---|---|")
        for r in self.rows:
            print("| " + " | ".join(r) + " |")
        for n in self.notes:
            print(f"\nnote: {n}")

    def delivery_rounds(self, rounds: int) -> None:
        """Only the delivery rows, ``rounds`` times (their ratio swings more between runs than the
        others): each round buffers 60,000 envelopes directly, then delivers them as ``delivery``."""
        from router.config import parse_config
        from router.envelopes import envelope
        from router.runtime import Runtime

        rt = Runtime(parse_config(yaml.safe_load(self.cfg_batch.read_text()), str(self.cfg_batch)), self.r)
        for k in range(rounds):
            n = 60_000
            for start in range(0, n, 2000):
                rt.queue.push("hook", [envelope(track_event(f"d{k}-{i}"), f"d{k}-{i}", 0) for i in range(start, start + 2000)])
            self.buffered = n
            self.delivery()

    def run(self) -> None:
        try:
            self.start()
            if self.args.delivery_rounds:
                self.delivery_rounds(self.args.delivery_rounds)
                return
            print("ingest ...", flush=True)
            self.ingest()
            self.memory()
            print("delivery ...", flush=True)
            self.delivery()
            print("end to end ...", flush=True)
            self.end_to_end()
        finally:
            self.procs.stop_all()
            if getattr(self, "redis_server", None):
                self.redis_server.stop()
        self.report()
        shutil.rmtree(self.tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="about a minute: one round, shorter phases")
    ap.add_argument("--tree", help="the eventrouter checkout to measure (default: this one)")
    ap.add_argument("--web-workers", type=int, default=2, help="gunicorn processes, for eventrouter and the bare app")
    ap.add_argument("--delivery-rounds", type=int, default=0, metavar="N",
                    help="only the delivery rows, N times over 60,000 buffered events each (ingest skipped)")
    ap.add_argument("--no-trace", action="store_true", help="eventrouter without event traces (trace: {max_events: 0})")
    args = ap.parse_args()
    if args.tree:
        sys.path.insert(0, str(Path(args.tree).resolve()))
    Bench(args).run()


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
