"""Slow and idle clients can't take ingest down: the web process as `up` and `serve` run it."""
from __future__ import annotations

import base64
import socket
import time

import pytest
import requests

from router.redis_server import EmbeddedRedis
from tests.e2e.procs import Proc, free_port, wait_http, write_config

pytestmark = pytest.mark.e2e
SLOW = 100
SECONDS = 8.0
#: the issue asks for a measured bound: normal answers take tens of ms, so 2 s is generous
BOUND = 2.0
AUTH = "Basic " + base64.b64encode(b"e2e-write-key:").decode()


def open_slow(port: int, i: int) -> socket.socket:
    """Half never finish their headers, half never finish their body."""
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    if i % 2:
        s.sendall(b"POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    else:
        s.sendall((f"POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {AUTH}\r\n"
                   "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{").encode())
    return s


def test_normal_requests_are_answered_promptly_while_slow_connections_are_open(tmp_path):
    config = write_config(tmp_path, [{"name": "crm", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/"}}])
    port = free_port()
    redis_server = EmbeddedRedis(tmp_path / "data")
    redis_server.start()  # `serve` uses a running Redis; only `up` starts the embedded one
    web = Proc(config, "serve", "--port", str(port), "--web-workers", "2")
    slow: list[socket.socket] = []
    try:
        assert wait_http(f"http://127.0.0.1:{port}/healthz"), web.output()
        slow = [open_slow(port, i) for i in range(SLOW)]
        latencies: list[float] = []
        started = time.monotonic()
        i = 0
        while time.monotonic() - started < SECONDS:
            i += 1
            for n, s in enumerate(slow):  # keep them trickling, as a slowloris does
                try:
                    s.send(b" " if n % 2 == 0 else f"X-Slow-{i}: 1\r\n".encode())
                except OSError:
                    pass  # the server closed it: that is allowed, and one slow client fewer
            path, body = ("/v1/track", {"userId": "u1", "event": "Clicked"}) if i % 2 else \
                ("/v1/batch", {"batch": [{"type": "track", "userId": "u1", "event": "Viewed"}]})
            t = time.monotonic()
            try:
                r = requests.post(f"http://127.0.0.1:{port}{path}", json=body, auth=("e2e-write-key", ""),
                                  timeout=BOUND, headers={"Connection": "close"})
            except requests.Timeout:
                pytest.fail(f"request {i} to {path} got no answer within {BOUND}s while {SLOW} slow connections were open")
            latencies.append(time.monotonic() - t)
            assert r.status_code == 200, r.text
            time.sleep(0.2)
        assert len(latencies) >= 10 and max(latencies) < BOUND
    finally:
        for s in slow:
            s.close()
        web.stop()
        redis_server.stop()
