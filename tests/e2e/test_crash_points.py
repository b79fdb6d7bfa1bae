"""Accepted means kept at the exact points where a killed worker used to leave something behind:
a real worker process is stopped at the point (tests/e2e/hooked_worker.py) and SIGKILLed there."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from router.config import load_config
from router.regulations import regulate, regulation_status
from router.rescue import requeue_jobs_of_dead_workers
from router.runtime import Runtime
from tests.e2e.procs import free_port, Proc, small_up, wait_http, write_config
from tests.fakes.http import FakeServer, Reply, Request
from tests.helpers import work

pytestmark = pytest.mark.e2e


def killed_at(point: str, config: Path, *args: str) -> int:
    """Run ``eventrouter --config config *args`` until it reaches ``point``, then SIGKILL it; its pid."""
    flag = config.parent / f"{point}.flag"
    proc = subprocess.Popen([sys.executable, "-m", "tests.e2e.hooked_worker", point, str(flag), "--config", str(config), *args],
                            cwd=Path(__file__).resolve().parents[2], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not flag.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert flag.exists(), f"the process never reached {point} (exit code {proc.poll()})"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    return proc.pid


def test_a_gdpr_delete_delivered_by_a_worker_killed_right_after_settling_it_shows_finished(tmp_path, embedded):
    with FakeServer() as hook:
        config = write_config(tmp_path, [{"name": "crm", "type": "webhook", "settings": {"url": hook.base_url}}])
        rt = Runtime(load_config(str(config)))
        Runtime.set_current(rt)
        try:
            reg_id = regulate(rt, "DELETE_ONLY", ["user-1"])
            killed_at("after-settle", config, "worker", "--burst")
            assert [(r.json()["type"], r.json()["userId"]) for r in hook.requests] == [("delete", "user-1")]
            work(rt)  # what the next worker and scheduler do
            assert regulation_status(rt, reg_id)["destinations"]["crm"] == {
                "status": "finished", "finished": 1, "failed": 0, "pending": 0}
            assert regulation_status(rt, reg_id)["status"] == "finished"
        finally:
            Runtime.set_current(None)


def track(port: int, message_id: str) -> int:
    return requests.post(f"http://127.0.0.1:{port}/v1/track", auth=("e2e-write-key", ""), timeout=5,
                         json={"userId": "u1", "event": "Order Completed", "messageId": message_id}).status_code


def redis_healthy(port: int, timeout: float) -> bool:
    """True once the router's /healthz says Redis is ok, within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json().get("redis") == "ok":
                return True
        except requests.RequestException:
            pass  # not listening yet
        time.sleep(0.1)
    return False


@pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="`up` only supervises the embedded Redis")
def test_an_up_killed_and_started_again_restarts_the_embedded_redis_it_left_behind_when_it_dies(tmp_path):
    with FakeServer() as hook:
        config = write_config(tmp_path, [{"name": "crm", "type": "webhook", "settings": {"url": hook.base_url}}])
        port = free_port()
        first = small_up(config, port)
        second = None
        try:
            assert wait_http(f"http://127.0.0.1:{port}/healthz"), first.output()
            assert track(port, "before") == 200
            hook.wait_for(1, timeout=10)
            first.kill()  # `up` and its children; the embedded Redis runs on in its own session
            second = small_up(config, port)
            assert redis_healthy(port, 20), second.output()
            os.kill(int((tmp_path / "data" / "redis.pid").read_text()), signal.SIGKILL)
            assert redis_healthy(port, 10), second.output()
            assert track(port, "after") == 200
            hook.wait_for(2, timeout=10)
            # at least once: "before" goes again when the kill came between its send and its settle
            assert {r.json()["messageId"] for r in hook.requests} == {"before", "after"}
        finally:
            code = second.stop() if second else None
        assert "the embedded Redis of an eventrouter up that is gone still runs; starting it again" in second.output()
        assert "embedded Redis exited with code -9; starting it again" in second.output()
        assert code == 0, second.output()


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"  # a zombie is dead, waiting for its reaper
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_the_children_of_an_up_killed_alone_stop_so_up_can_be_started_again_on_its_port(tmp_path):
    with FakeServer() as hook:
        config = write_config(tmp_path, [{"name": "crm", "type": "webhook", "settings": {"url": hook.base_url}}])
        port = free_port()
        first = small_up(config, port)
        second = None
        try:
            assert wait_http(f"http://127.0.0.1:{port}/healthz"), first.output()
            out = subprocess.run(["pgrep", "-P", str(first.popen.pid)], capture_output=True, text=True).stdout
            redis_pid = int((tmp_path / "data" / "redis.pid").read_text())
            children = [int(p) for p in out.split() if int(p) != redis_pid]
            assert len(children) == 3, out  # web, scheduler, worker; the next `up` takes the embedded Redis over
            os.kill(first.popen.pid, signal.SIGKILL)  # `up` alone: the OOM killer's or an operator's kill -9
            first.popen.wait(10)
            deadline = time.monotonic() + 10
            while any(alive(p) for p in children) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not [p for p in children if alive(p)], "children of the killed up still run"
            second = small_up(config, port)
            assert redis_healthy(port, 20), second.output()
            assert track(port, "after") == 200
            hook.wait_for(1, timeout=10)
            assert [r.json()["messageId"] for r in hook.requests] == ["after"]
        finally:
            if second:
                second.stop()
            with contextlib.suppress(ProcessLookupError):
                first.kill()  # whatever of the first one still runs


def test_a_worker_killed_while_a_users_ordered_batch_is_at_the_vendor_leaves_the_user_flowing_in_order(tmp_path, embedded):
    release = threading.Event()
    got: list[list[int]] = []

    def vendor(req: Request) -> Reply:
        got.append([e["properties"]["seq"] for e in req.json()])
        if len(got) == 1:
            release.wait(10)  # held until the worker that sent it is killed
        return Reply(200, {})

    with FakeServer(vendor) as hook:
        config = write_config(tmp_path, [{"name": "crm", "type": "webhook", "batch_size": 2, "ordering": "per_user",
                                          "settings": {"url": hook.base_url, "batch": True}}])
        rt = Runtime(load_config(str(config)))
        Runtime.set_current(rt)
        worker = Proc(config, "worker")
        try:
            events = [{"type": "track", "userId": "ada", "event": "Step", "messageId": f"m-{i}", "properties": {"seq": i}}
                      for i in range(5)]
            rt.enqueue("crm", events)
            hook.wait_for(1, timeout=20)
            worker.kill()
            release.set()
            deadline = time.monotonic() + 10
            while sum(len(b) for b in got) < 7 and time.monotonic() < deadline:
                work(rt)  # the next worker and scheduler
                time.sleep(0.1)
            # the killed batch again, first (at least once), then the rest, in order
            assert got[0] == [0, 1] and [seq for batch in got[1:] for seq in batch] == [0, 1, 2, 3, 4]
            depth = rt.queue.depth("crm")
            assert (depth["buffered"], depth["inflight_batches"], depth.get("ordered_users", 0)) == (0, 0, 0)
        finally:
            release.set()
            worker.stop()
            Runtime.set_current(None)


def test_a_drain_job_a_dead_worker_had_taken_but_not_started_is_requeued_and_its_events_arrive(tmp_path, embedded):
    with FakeServer() as hook:
        config = write_config(tmp_path, [{"name": "crm", "type": "webhook", "settings": {"url": hook.base_url}}])
        rt = Runtime(load_config(str(config)))
        Runtime.set_current(rt)
        try:
            rt.enqueue("crm", [{"type": "track", "userId": "u1", "event": "E", "messageId": f"m-{i}"} for i in range(3)])
            pid = killed_at("before-start", config, "worker")
            assert rt.rq_queue("crm").job_ids == []  # taken off the queue by the worker that died
            # its drain token keeps other drain jobs away for the pickup window (5 minutes): up requeues the job
            assert requeue_jobs_of_dead_workers(rt.redis, [pid]) == 1
            work(rt)
            assert sorted(r.json()["messageId"] for r in hook.requests) == ["m-0", "m-1", "m-2"]
            assert requeue_jobs_of_dead_workers(rt.redis, [pid]) == 0
        finally:
            Runtime.set_current(None)


@pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="`up` on the embedded Redis")
def test_up_started_after_a_worker_died_holding_a_drain_job_it_had_not_started_delivers_at_once(tmp_path, embedded):
    with FakeServer() as hook:
        config = write_config(tmp_path, [{"name": "crm", "type": "webhook", "settings": {"url": hook.base_url}}])
        rt = Runtime(load_config(str(config)))
        rt.enqueue("crm", [{"type": "track", "userId": "u1", "event": "E", "messageId": f"m-{i}"} for i in range(3)])
        killed_at("before-start", config, "worker")  # a worker of an `up` killed with it (its pid unknown now)
        assert rt.rq_queue("crm").job_ids == []
        port = free_port()
        up = small_up(config, port)
        try:
            hook.wait_for(3, timeout=15)  # not after the 5-minute pickup window of the job's drain token
            assert sorted(r.json()["messageId"] for r in hook.requests) == ["m-0", "m-1", "m-2"]
        finally:
            code = up.stop()
        assert "requeued 1 job taken by a worker that died before starting it" in up.output()
        assert code == 0, up.output()


@pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="restarts the embedded Redis; REDIS_URL is someone else's server")
def test_a_redis_killed_while_a_batch_is_at_the_vendor_comes_back_from_its_aof_and_the_batch_settles_once(tmp_path, embedded):
    release = threading.Event()

    def vendor(req: Request) -> Reply:
        release.wait(10)  # the first batch is held at the vendor while Redis is killed and started again
        return Reply(200, {})

    with FakeServer(vendor) as hook:
        config = write_config(tmp_path, [{"name": "crm", "type": "webhook", "batch_size": 5,
                                          "settings": {"url": hook.base_url, "batch": True}}])
        rt = Runtime(load_config(str(config)))
        worker = Proc(config, "worker", "--with-scheduler")
        try:
            rt.enqueue("crm", [{"type": "track", "userId": f"u{i}", "event": "E", "messageId": f"m-{i}"} for i in range(10)])
            hook.wait_for(1, timeout=20)
            embedded.process.kill()
            embedded.process.wait(10)
            assert embedded.start()
            release.set()
            deadline = time.monotonic() + 15
            while rt.queue.depth("crm").get("delivered", 0) < 10 and time.monotonic() < deadline:
                time.sleep(0.1)
            depth = rt.queue.depth("crm")
            assert (depth["buffered"], depth["inflight_batches"], depth["retrying"], depth["dead_letters"],
                    depth["delivered"]) == (0, 0, 0, 0, 10)
            sent = [e["messageId"] for r in hook.requests for e in r.json()]
            # at least once: only the held batch may go twice (when its lease lapsed while Redis was away)
            assert sorted(set(sent)) == sorted(f"m-{i}" for i in range(10)) and len(sent) <= 15
        finally:
            release.set()
            worker.stop()


@pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="`up` only supervises the embedded Redis")
def test_an_up_sharing_the_embedded_redis_of_an_up_killed_outright_takes_it_over_and_restarts_it(tmp_path):
    with FakeServer() as hook:
        config = write_config(tmp_path, [{"name": "crm", "type": "webhook", "settings": {"url": hook.base_url}}])
        owner_port, sharer_port = free_port(), free_port()
        owner = small_up(config, owner_port)
        sharer = None
        try:
            assert wait_http(f"http://127.0.0.1:{owner_port}/healthz"), owner.output()
            sharer = small_up(config, sharer_port)
            assert redis_healthy(sharer_port, 20), sharer.output()
            os.kill(owner.popen.pid, signal.SIGKILL)  # the owner alone; its Redis runs on in its own session
            owner.popen.wait(10)
            owner_file = tmp_path / "data" / "redis.owner"
            deadline = time.monotonic() + 10
            while owner_file.read_text() != str(sharer.popen.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert owner_file.read_text() == str(sharer.popen.pid), sharer.output()  # taken over
            assert redis_healthy(sharer_port, 10), sharer.output()
            os.kill(int((tmp_path / "data" / "redis.pid").read_text()), signal.SIGKILL)
            assert redis_healthy(sharer_port, 10), sharer.output()
            assert track(sharer_port, "after") == 200
            hook.wait_for(1, timeout=10)
            assert {r.json()["messageId"] for r in hook.requests} == {"after"}
        finally:
            code = sharer.stop() if sharer else None
            with contextlib.suppress(ProcessLookupError):
                owner.kill()
        assert "the eventrouter up that ran the embedded Redis on " in sharer.output()
        assert "embedded Redis exited with code -9; starting it again" in sharer.output()
        assert code == 0, sharer.output()
