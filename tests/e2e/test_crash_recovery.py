"""Accepted means kept: real processes are killed, and every accepted event still arrives."""
from __future__ import annotations

import os
import time

import pytest

from router.app import create_app
from router.config import load_config
from router.runtime import Runtime
from tests.e2e.procs import Proc, write_config
from tests.fakes.http import FakeServer, Reply

pytestmark = pytest.mark.e2e
N = 100


def accept(config_path, count: int) -> Runtime:
    rt = Runtime(load_config(str(config_path)))
    batch = [{"type": "track", "userId": f"u{i}", "event": "Order Completed", "messageId": f"m-{i}"} for i in range(count)]
    r = create_app(runtime=rt).test_client().post("/v1/batch", json={"batch": batch, "writeKey": "e2e-write-key"})
    assert r.get_json()["accepted"] == count
    return rt


def arrived(hook: FakeServer) -> set[str]:
    return {r.json()["messageId"] for r in list(hook.requests)}


def test_a_worker_killed_mid_batch_loses_nothing(tmp_path, embedded):
    with FakeServer(lambda req: Reply(200, {}, delay=0.05)) as hook:
        config = write_config(tmp_path, [{"name": "crm", "type": "webhook", "batch_size": 10,
                                          "settings": {"url": hook.base_url}}])
        scheduler = Proc(config, "scheduler")
        first = Proc(config, "worker")
        second = None
        try:
            accept(config, N)
            hook.wait_for(15, timeout=30)
            first.kill()
            killed_at = len(hook.requests)
            assert killed_at < N, "the worker finished before it could be killed; slow the fake vendor down"
            second = Proc(config, "worker")
            deadline = time.monotonic() + 60
            while len(arrived(hook)) < N and time.monotonic() < deadline:
                time.sleep(0.1)
            assert arrived(hook) == {f"m-{i}" for i in range(N)}
            # at-least-once: only the killed batch may be repeated
            assert len(hook.requests) - N <= 10
        finally:
            for p in (first, second, scheduler):
                if p is not None:
                    p.stop()


@pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="restarts the embedded Redis; REDIS_URL is someone else's server")
def test_events_accepted_before_a_redis_restart_are_delivered_after_it(tmp_path, embedded):
    with FakeServer() as hook:
        config = write_config(tmp_path, [{"name": "crm", "type": "webhook", "settings": {"url": hook.base_url}}])
        accept(config, 20)
        time.sleep(1.2)  # AOF is fsynced every second
        embedded.stop()
        embedded.start()
        worker = Proc(config, "worker", "--with-scheduler")
        try:
            deadline = time.monotonic() + 30
            while len(arrived(hook)) < 20 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert arrived(hook) == {f"m-{i}" for i in range(20)}
        finally:
            worker.stop()
