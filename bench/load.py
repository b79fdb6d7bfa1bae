"""HTTP load for the bench: wrk when installed (``apt-get install -y wrk``; C, so it takes
little of the CPU the servers need), else a Python fallback with the same interface.

Every request has its own messageIds (``@@ID@@`` in the body is replaced by a per-request
id), so no event is a duplicate the router could skip."""
from __future__ import annotations

import http.client
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

PLACEHOLDER = "@@ID@@"

_LUA = r"""
local counter = 0
local tid = 0
local threads = {}
local n = 0
setup = function(thread)
  n = n + 1
  thread:set("tid", n)
  table.insert(threads, thread)
end
init = function(args)
  tid = wrk.thread:get("tid")
  local f = io.open(args[1], "rb")
  template = f:read("*all")
  f:close()
  gap = tonumber(args[2])
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = args[3]
end
request = function()
  counter = counter + 1
  local body = template:gsub("@@ID@@", args_prefix .. tid .. "-" .. counter)
  return wrk.format("POST", nil, nil, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class Load:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run(url: str, body: str, auth: str, *, connections: int, seconds: float, gap_ms: int = 0, prefix: str = "r") -> Load:
    """POST ``body`` to ``url`` for ``seconds`` over ``connections`` keep-alive connections;
    ``gap_ms``: each connection waits that long between requests (a paced load)."""
    if have_wrk():
        return _wrk(url, body, auth, connections, seconds, gap_ms, prefix)
    return _python(url, body, auth, connections, seconds, gap_ms, prefix)


def _wrk(url: str, body: str, auth: str, connections: int, seconds: float, gap_ms: int, prefix: str) -> Load:
    tmp = Path(tempfile.mkdtemp(prefix="er-wrk-"))
    (tmp / "body.json").write_text(body)
    script = tmp / "post.lua"
    paced = f"delay = function() return {gap_ms} end\n" if gap_ms else ""
    script.write_text(f'args_prefix = "{prefix}"\n' + _LUA + paced)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(script), url,
         "--", str(tmp / "body.json"), str(gap_ms), auth],
        capture_output=True, text=True, timeout=seconds + 60,
    )
    line = next((l for l in out.stdout.splitlines() if l.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
    d = orjson.loads(line[8:])
    return Load(d["requests"], d["duration_us"] / 1e6, d["errors"] + d["non2xx"], d["p50_us"] / 1000, d["p99_us"] / 1000)


def _python(url: str, body: str, auth: str, connections: int, seconds: float, gap_ms: int, prefix: str) -> Load:
    host_port, path = url.split("://", 1)[1].split("/", 1)
    host, port = host_port.split(":")
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def conn_loop(cid: int) -> None:
        c = http.client.HTTPConnection(host, int(port), timeout=10)
        n = 0
        mine: list[float] = []
        while time.monotonic() < deadline:
            n += 1
            data = body.replace(PLACEHOLDER, f"{prefix}{cid}-{n}").encode()
            t = time.perf_counter()
            c.request("POST", "/" + path, data, {"Content-Type": "application/json", "Authorization": auth})
            r = c.getresponse()
            r.read()
            mine.append(time.perf_counter() - t)
            if r.status != 200:
                with lock:
                    errors[0] += 1
            if gap_ms:
                time.sleep(gap_ms / 1000)
        with lock:
            lat.extend(mine)

    start = time.monotonic()
    threads = [threading.Thread(target=conn_loop, args=(i,)) for i in range(min(connections, 16))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - start
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [0.0] * 99
    return Load(len(lat), took, errors[0], q[49] * 1000, q[98] * 1000)


if __name__ == "__main__":  # smoke: python -m bench.load URL
    import sys

    print(run(sys.argv[1], '{"batch":[]}', "Basic eDo=", connections=2, seconds=2))
    os._exit(0)
