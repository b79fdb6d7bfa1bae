"""`eventrouter up` as a user runs it, fed by the real analytics-python client."""
from __future__ import annotations

import hashlib
import hmac
import os
import signal
import socket
import subprocess
import time

import pytest
import requests

from tests.e2e.procs import free_port, Proc, small_up, wait_http, write_config
from tests.fakes.http import FakeServer

segment = pytest.importorskip("segment.analytics", reason="segment-analytics-python is not installed")

pytestmark = pytest.mark.e2e


def test_an_event_sent_with_analytics_python_reaches_the_webhook_signed(tmp_path):
    with FakeServer() as hook:
        config = write_config(tmp_path, [{"name": "crm", "type": "webhook",
                                          "settings": {"url": hook.base_url + "/hook", "shared_secret": "s3cret-e2e"}}])
        port = free_port()
        up = small_up(config, port)
        try:
            assert wait_http(f"http://127.0.0.1:{port}/healthz"), up.output()
            client = segment.Client("e2e-write-key", host=f"http://127.0.0.1:{port}", sync_mode=True, gzip=True)
            client.identify("user-42", {"email": "ada@example.com", "firstName": "Ada"})
            client.track("user-42", "Order Completed", {"order_id": "o-1", "revenue": 12.5})
            client.flush()
            requests_ = hook.wait_for(2, timeout=30)
            by_type = {r.json()["type"]: r for r in requests_}
            ident, track = by_type["identify"].json(), by_type["track"].json()
            assert ident["userId"] == "user-42" and ident["traits"] == {"email": "ada@example.com", "firstName": "Ada"}
            assert track["event"] == "Order Completed" and track["properties"] == {"order_id": "o-1", "revenue": 12.5}
            assert track["context"]["library"]["name"] == "analytics-python"
            for r in requests_:
                assert r.headers["X-Signature"] == hmac.new(b"s3cret-e2e", r.body, hashlib.sha1).hexdigest()
            health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
            assert health["redis"] == "ok" and health["workers"] == 1
        finally:
            code = up.stop()
        out = up.output()
        assert f"eventrouter is up at http://127.0.0.1:{port}" in out
        assert "write key: e2e-write-key" in out
        assert ("Redis at " if os.environ.get("REDIS_URL") else "embedded Redis, data in ") in out
        assert "eventrouter stopped" in out and code == 0, out


def test_up_refuses_a_bad_config_with_the_key_path(tmp_path):
    config = write_config(tmp_path, [{"name": "crm", "type": "webhook", "settings": {}}])
    up = Proc(config, "up", "--port", str(free_port()))
    assert up.popen.wait(30) == 2
    assert "destinations[0].settings.url: missing (required)" in up.output()


def test_a_worker_restricted_to_an_unknown_destination_refuses_to_start(tmp_path):
    config = write_config(tmp_path, [{"name": "crm", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/"}}])
    worker = Proc(config, "worker", "--queues", "crm,nope")
    assert worker.popen.wait(30) == 2
    assert "no destination named 'nope' (configured: crm)" in worker.output()


def child_pids(parent: int, pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(parent), "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_up_starts_a_crashed_worker_again_and_keeps_delivering(tmp_path):
    with FakeServer() as hook:
        config = write_config(tmp_path, [{"name": "crm", "type": "webhook", "settings": {"url": hook.base_url}}])
        port = free_port()
        up = small_up(config, port)
        try:
            assert wait_http(f"http://127.0.0.1:{port}/healthz"), up.output()
            (worker,) = child_pids(up.popen.pid, "router.cli worker")
            os.kill(worker, signal.SIGKILL)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and child_pids(up.popen.pid, "router.cli worker") in ([], [worker]):
                time.sleep(0.1)
            assert len(child_pids(up.popen.pid, "router.cli worker")) == 1
            r = requests.post(f"http://127.0.0.1:{port}/v1/track", auth=("e2e-write-key", ""),
                              json={"userId": "u1", "event": "After The Crash"}, timeout=5)
            assert r.status_code == 200
            assert hook.wait_for(1, timeout=20)[0].json()["event"] == "After The Crash"
        finally:
            up.stop()
        assert "worker exited with code -9; starting it again" in up.output()


def test_up_on_a_port_that_is_taken_says_so_at_once_and_exits_non_zero(tmp_path):
    config = write_config(tmp_path, [])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = Proc(config, "up", "--port", str(port))
        code = up.popen.wait(30)
    out = up.output()
    assert code == 1, out
    assert f"eventrouter cannot listen on 127.0.0.1:{port}: Address already in use" in out
    assert "eventrouter is up" not in out
    assert not (tmp_path / "data" / "redis.sock").exists()


def test_up_demo_prints_the_first_event_as_the_local_receiver_gets_it(tmp_path):
    config = write_config(tmp_path, [{"name": "crm", "type": "webhook", "enabled": False,
                                      "settings": {"url": "http://127.0.0.1:9/"}},
                                     {"name": "cb", "type": "custobar", "subscribe": ["identify"],
                                      "settings": {"base_url": "http://127.0.0.1:9", "token": "t"}}])
    port = free_port()
    up = small_up(config, port, "--demo")
    try:
        assert wait_http(f"http://127.0.0.1:{port}/healthz"), up.output()
        r = requests.post(f"http://127.0.0.1:{port}/v1/track", auth=("e2e-write-key", ""),
                          json={"userId": "u1", "event": "Order Completed", "properties": {"order_id": "o-1"}}, timeout=5)
        assert r.status_code == 200
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and 'demo receiver got track "Order Completed" from u1' not in up.output():
            time.sleep(0.1)
    finally:
        up.stop()
    out = up.output()
    assert 'demo receiver got track "Order Completed" from u1: {"type":"track","userId":"u1"' in out, out
    assert "2 enabled destinations" in out and "demo: webhook destination demo-receiver delivers to http://127.0.0.1:" in out
    assert "warning: destinations[1] cb: account_currency is not set: orders that carry properties.currency" in out


def test_a_hangup_stops_up_with_every_child_and_the_embedded_redis(tmp_path):
    """A closed terminal or ssh session sends SIGHUP: by default it killed `up` alone, leaving
    gunicorn, the workers and the embedded Redis running with nothing to stop them."""
    config = write_config(tmp_path, [])
    port = free_port()
    up = small_up(config, port)
    try:
        assert wait_http(f"http://127.0.0.1:{port}/healthz"), up.output()
        os.kill(up.popen.pid, signal.SIGHUP)
        up.popen.wait(30)
        left = subprocess.run(["pgrep", "-g", str(up.popen.pid)], capture_output=True, text=True).stdout.split()
    finally:
        try:
            os.killpg(up.popen.pid, signal.SIGKILL)  # whatever was left behind
        except ProcessLookupError:
            pass
        up.popen.wait(10)
    assert left == [], up.output()
    assert "eventrouter stopped" in up.output()


def test_up_that_gives_up_on_a_child_that_keeps_exiting_stops_everything_and_exits_non_zero(tmp_path):
    """Exit 0 would tell systemd (Restart=on-failure) or a shell script that all is well."""
    crash = tmp_path / "crash"
    crash.mkdir()
    # the scheduler child dies at start-up, every time
    (crash / "sitecustomize.py").write_text('import os, sys\nif sys.argv[-1:] == ["scheduler"]:\n    os._exit(3)\n')
    config = write_config(tmp_path, [])
    up = small_up(config, free_port(),
                  env={"PYTHONPATH": os.pathsep.join(filter(None, [str(crash), os.environ.get("PYTHONPATH")]))})
    try:
        code = up.popen.wait(90)
        left = subprocess.run(["pgrep", "-g", str(up.popen.pid)], capture_output=True, text=True).stdout.split()
    finally:
        try:
            os.killpg(up.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        up.popen.wait(10)
    out = up.output()
    assert "scheduler keeps exiting" in out and "eventrouter stopped" in out, out
    assert left == [], out
    assert code == 1, out


def test_ctrl_c_while_the_embedded_redis_starts_stops_up_cleanly_and_leaves_no_redis(tmp_path):
    """Ctrl-C before `up` had installed its handlers (while its Redis started) ended it with
    click's "Aborted!" and left the embedded Redis running with no `up` to own it. The test holds
    the start lock so that the Ctrl-C lands there every time."""
    import fcntl

    config = write_config(tmp_path, [])
    (tmp_path / "data").mkdir()
    with open(tmp_path / "data" / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        up = small_up(config, free_port())
        try:
            deadline = time.monotonic() + 20
            while "redis.lock" not in subprocess.run(["ls", "-l", f"/proc/{up.popen.pid}/fd"], capture_output=True,
                                                     text=True).stdout and time.monotonic() < deadline:
                time.sleep(0.05)  # until `up` has the lock file open: it waits on the lock we hold
            os.kill(up.popen.pid, signal.SIGINT)
            time.sleep(0.3)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    try:
        code = up.popen.wait(30)
        pid = (tmp_path / "data" / "redis.pid").read_text().strip() if (tmp_path / "data" / "redis.pid").exists() else ""
        left = subprocess.run(["pgrep", "-g", str(up.popen.pid)], capture_output=True, text=True).stdout.split()
    finally:
        try:
            os.killpg(up.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert (code, up.output().splitlines()[-1:], left) == (0, ["eventrouter stopped"], []), up.output()
    assert not pid or not os.path.exists(f"/proc/{pid}")
