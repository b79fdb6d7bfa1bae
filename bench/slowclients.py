"""Do slow and idle clients take ingest down? Measured on this machine (not a test).

    python bench/slowclients.py [--slow 200] [--seconds 60 | --quick] [--worker-class sync]

1. starts the web process exactly as `eventrouter up` does (router.cli_processes.gunicorn_command,
   2 processes), on 127.0.0.1, with an embedded Redis in a temporary directory;
2. baseline: normal clients call /v1/track and /v1/batch (10 events) for a few
   seconds with nothing else open; latency p50/p95/p99, errors, timeouts (> 5 s);
3. attack: opens --slow connections (half send their headers a line every 2 s,
   half send a complete header and then their body a byte every 2 s, never
   finishing; a connection the server closes is opened again) and measures the
   normal clients again for --seconds;
4. throughput: /v1/batch with 100 events of ~1 KB each, with `wrk` when it is
   installed (16 connections, 10 s), else Python threads.
``--worker-class`` overrides gunicorn's worker class (``sync`` is the setup before
issue 11) to compare. Every loop is bounded in count and time; only loopback.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from router.cli_processes import gunicorn_command  # noqa: E402
from router.redis_server import EmbeddedRedis  # noqa: E402
from tests.e2e.procs import free_port, wait_http  # noqa: E402

KEY = "bench-key"
AUTH = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
#: a normal request slower than this counts as timed out
CLIENT_TIMEOUT = 5.0
TICK = 2.0
MAX_REQUESTS = 100_000


def start_web(tmp: Path, port: int, worker_class: str | None) -> subprocess.Popen[bytes]:
    cfg = {
        "redis_url": "embedded", "data_dir": str(tmp / "data"), "namespace": f"slow{uuid.uuid4().hex[:6]}",
        "sources": [{"name": "bench", "write_keys": [KEY]}],
        # nothing drains it during the run: ingest is what is measured
        "destinations": [{"name": "hook", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/hook"}}],
    }
    config = tmp / "eventrouter.yaml"
    config.write_text(yaml.safe_dump(cfg))
    cmd = gunicorn_command("127.0.0.1", port, 2)
    if worker_class:
        cmd = cmd[:-1] + ["-k", worker_class, cmd[-1]]  # the last -k wins
    print("web:", " ".join(cmd[2:]))
    env = dict(os.environ, EVENTROUTER_CONFIG=str(config), REDIS_URL=EmbeddedRedis(tmp / "data").url)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=(tmp / "web.log").open("wb"),
                            cwd=Path(__file__).resolve().parents[1])


class SlowClients:
    """``n`` connections that never finish a request: slow headers and slow bodies."""

    def __init__(self, port: int, n: int) -> None:
        self.port, self.n = port, n
        self.socks: list[tuple[socket.socket, str]] = []
        self.reopened = 0
        self.stop = threading.Event()

    def _open(self, kind: str) -> tuple[socket.socket, str] | None:
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
            if kind == "headers":
                s.sendall(b"POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            else:
                s.sendall((f"POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {AUTH}\r\n"
                           "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{").encode())
            s.setblocking(False)
            return s, kind
        except OSError:
            return None

    def run(self) -> None:
        for i in range(self.n):
            if (c := self._open("headers" if i % 2 == 0 else "body")) is not None:
                self.socks.append(c)
        k = 0
        while not self.stop.wait(TICK):
            k += 1
            for i, (s, kind) in enumerate(list(self.socks)):
                try:
                    s.send(f"X-Slow-{k}: 1\r\n".encode() if kind == "headers" else b" ")
                except OSError:  # the server gave up on it: an attacker opens another
                    s.close()
                    self.reopened += 1
                    if (c := self._open(kind)) is not None:
                        self.socks[i] = c

    def close(self) -> None:
        self.stop.set()
        for s, _ in self.socks:
            s.close()


def normal_clients(port: int, seconds: float, threads: int = 2) -> dict[str, float]:
    """Sequential /v1/track and /v1/batch calls, new connection each, for ``seconds``."""
    lat: list[float] = []
    errors = timeouts = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    batch = {"batch": [{"type": "track", "userId": f"u{i}", "event": "Viewed"} for i in range(10)]}

    def loop(tid: int) -> None:
        nonlocal errors, timeouts
        n = 0
        while time.monotonic() < deadline and n < MAX_REQUESTS:
            n += 1
            path, body = ("/v1/track", {"userId": "u", "event": "Clicked"}) if n % 2 else ("/v1/batch", batch)
            t = time.monotonic()
            try:
                r = requests.post(f"http://127.0.0.1:{port}{path}", json=body, auth=(KEY, ""), timeout=CLIENT_TIMEOUT,
                                  headers={"Connection": "close"})
                took = time.monotonic() - t
                with lock:
                    if r.status_code == 200:
                        lat.append(took)
                    else:
                        errors += 1
            except requests.Timeout:
                with lock:
                    timeouts += 1
            except requests.RequestException:
                with lock:
                    errors += 1
            time.sleep(0.05)

    ts = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [float("nan")] * 99
    return {"ok": len(lat), "p50": q[49] * 1000, "p95": q[94] * 1000, "p99": q[98] * 1000,
            "errors": errors, "timeouts": timeouts}


def big_batch() -> bytes:
    pad = "x" * 850
    return json.dumps({"batch": [{"type": "track", "userId": f"user-{i}", "event": "Order Completed",
                                  "properties": {"order_id": f"o-{i}", "note": pad}} for i in range(100)]}).encode()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the web process and its workers: what a request costs, whatever else runs on the box."""
    total = 0.0
    pids = [pid] + [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def throughput(port: int, seconds: float, tmp: Path, web_pid: int) -> str:
    """Requests/s (shared box: noisy) and web CPU per request (robust to the neighbours)."""
    cpu0 = cpu_seconds(web_pid)
    rate = _throughput(port, seconds, tmp)
    cpu = cpu_seconds(web_pid) - cpu0
    done = rate * seconds
    return f"{rate:,.1f} requests/s = {rate * 100:,.0f} events/s; web CPU {cpu * 1000 / max(done, 1):.1f} ms per request"


def _throughput(port: int, seconds: float, tmp: Path) -> float:
    body = big_batch()
    if shutil.which("wrk"):
        script = tmp / "batch.lua"
        script.write_text(f'wrk.method = "POST"\nwrk.body = {json.dumps(body.decode())}\n'
                          f'wrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "{AUTH}"\n')
        out = subprocess.run(["wrk", "-t2", "-c16", f"-d{int(seconds)}s", "--timeout", "10s", "-s", str(script),
                              f"http://127.0.0.1:{port}/v1/batch"], capture_output=True, text=True, timeout=seconds + 30).stdout
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if non2xx:
            raise SystemExit(f"{non2xx.group(1)} answers were not 2xx:\n{out}")
        print(f"wrk -t2 -c16 {int(seconds)}s, batch of 100 events, {len(body)} bytes")
        return int(re.search(r"(\d+) requests in", out).group(1)) / seconds
    done = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def sender() -> None:
        s = requests.Session()
        while time.monotonic() < deadline:
            r = s.post(f"http://127.0.0.1:{port}/v1/batch", data=body, auth=(KEY, ""),
                       headers={"Content-Type": "application/json"}, timeout=30)
            if r.status_code == 200:
                with lock:
                    done[0] += 1

    ts = [threading.Thread(target=sender) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(f"python, 8 threads, {seconds:.0f}s, batch of 100 events, {len(body)} bytes")
    return done[0] / seconds


def row(name: str, m: dict[str, float]) -> str:
    return (f"| {name} | {m['ok']} | {m['p50']:.0f} | {m['p95']:.0f} | {m['p99']:.0f} | "
            f"{m['errors']} | {m['timeouts']} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slow", type=int, default=200, help="slow connections")
    ap.add_argument("--seconds", type=float, default=60, help="how long the slow connections stay open")
    ap.add_argument("--quick", action="store_true", help="15 s of slow connections, 5 s of throughput")
    ap.add_argument("--worker-class", default=None, help="override gunicorn's worker class (sync = before issue 11)")
    args = ap.parse_args()
    seconds = 15.0 if args.quick else args.seconds
    tmp = Path(tempfile.mkdtemp(prefix="er-slow-"))
    server = EmbeddedRedis(tmp / "data")
    server.start()
    port = free_port()
    web = start_web(tmp, port, args.worker_class)
    try:
        if not wait_http(f"http://127.0.0.1:{port}/healthz"):
            raise SystemExit("the web process did not come up:\n" + (tmp / "web.log").read_text())
        # first, on a fresh server: nothing left over from the slow connections
        speed = throughput(port, 5 if args.quick else 10, tmp, web.pid)
        base = normal_clients(port, 5 if args.quick else 10)
        slow = SlowClients(port, args.slow)
        t = threading.Thread(target=slow.run, daemon=True)
        t.start()
        time.sleep(1)  # let them connect
        attacked = normal_clients(port, seconds)
        slow.close()
        t.join(TICK + 1)
        print(f"\n{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, everything on one box; "
              f"{args.slow} slow connections (half slow headers, half slow bodies) for {seconds:.0f}s, "
              f"{slow.reopened} closed by the server and opened again")
        print("| normal clients | answered | p50 ms | p95 ms | p99 ms | errors | timeouts (>5 s) |")
        print("|---|---|---|---|---|---|---|")
        print(row("nothing else open", base))
        print(row(f"{args.slow} slow connections open", attacked))
        print("\nthroughput, /v1/batch:", speed)
    finally:
        web.terminate()
        try:
            web.wait(15)
        except subprocess.TimeoutExpired:
            web.kill()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
