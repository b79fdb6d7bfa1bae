"""The web process as ``gunicorn_command`` runs it: its gunicorn settings (router/gunicorn_conf.py), and
what it answers a client's raw bytes, through gunicorn's own HTTP parsing and gevent workers."""
from __future__ import annotations

import base64
import http.client
import json
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from router.cli_processes import gunicorn_command
from router.redis_server import EmbeddedRedis
from tests.e2e.procs import Proc, free_port, wait_http, write_config

AUTH = "Basic " + base64.b64encode(b"e2e-write-key:").decode()


def test_the_web_command_loads_the_gunicorn_settings() -> None:
    cmd = gunicorn_command("127.0.0.1", 8088, 2)
    assert cmd[cmd.index("-c") + 1] == "python:router.gunicorn_conf"
    checked = subprocess.run([*cmd[:-1], "--check-config", "bench.bare:app"], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stderr


def test_a_worker_freezes_what_it_loaded_and_collects_less_often() -> None:
    code = ("import gc; from router import gunicorn_conf as c; c.post_worker_init(None); "
            "print(gc.get_threshold()[0], gc.get_freeze_count() > 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.split() == ["7000", "True"]


@contextmanager
def serving(tmp: Path, host: str = "127.0.0.1") -> Iterator[int]:
    """`eventrouter serve` as deployed (gunicorn, gevent workers) on a Redis of its own: its port."""
    config = write_config(tmp, [{"name": "hook", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/hook"}}])
    redis_server = EmbeddedRedis(tmp / "data")
    redis_server.start()  # `serve` uses a running Redis; only `up` starts the embedded one
    port = free_port()
    proc = Proc(config, "serve", "--host", host, "--port", str(port), "--web-workers", "1")
    try:
        url_host = f"[{host}]" if ":" in host else host
        assert wait_http(f"http://{url_host}:{port}/healthz"), proc.output()
        yield port
    finally:
        proc.stop()
        redis_server.stop()


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with serving(tmp_path_factory.mktemp("web")) as port:
        yield port


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this host")
def test_the_web_process_serves_an_ipv6_host(tmp_path):
    with serving(tmp_path, host="::1") as port:
        assert requests.get(f"http://[::1]:{port}/healthz", timeout=10).json()["ok"] is True


def post_raw(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """POST ``body`` bytes exactly as given (no framing added): the answer's status and JSON."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("POST", path)
        for name, value in {"Authorization": AUTH, **headers}.items():
            conn.putheader(name, value)
        conn.endheaders()
        conn.send(body)
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        conn.close()


def test_a_chunked_body_with_broken_framing_is_a_json_400_that_says_so(web):
    for body in (b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n"):  # not a chunk size; no CRLF after the chunk
        status, answer = post_raw(web, "/v1/track", body, {"Transfer-Encoding": "chunked"})
        assert status == 400, answer
        assert answer["success"] is False and "chunked" in answer["errors"][0]["message"]


def test_a_body_declared_over_1_mb_is_refused_before_it_is_read(web):
    """An ingest body holds at most 500 KB decoded, and gzip makes nothing larger: a bigger body is
    refused from its Content-Length, so a thousand such clients can't make a web process hold
    their bodies (it read up to 8 MB each before)."""
    conn = http.client.HTTPConnection("127.0.0.1", web, timeout=10)
    try:
        conn.putrequest("POST", "/v1/batch")
        for name, value in {"Authorization": AUTH, "Content-Type": "application/json",
                            "Content-Length": str(1024 * 1024 + 1)}.items():
            conn.putheader(name, value)
        conn.endheaders()
        conn.send(b'{"batch":[')  # and nothing more: the answer must not wait for the rest
        answer = conn.getresponse()
        assert answer.status == 413 and json.loads(answer.read())["success"] is False
    finally:
        conn.close()
