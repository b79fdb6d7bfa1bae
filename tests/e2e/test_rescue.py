"""The job a worker was running when it died goes back to its queue, so delivery doesn't wait out the pickup window."""
from __future__ import annotations

import time

import pytest
from rq import Worker

from router.config import load_config
from router.rescue import requeue_jobs_of_dead_workers
from router.runtime import Runtime
from tests.e2e.procs import Proc, write_config
from tests.e2e.test_crash_recovery import accept, arrived
from tests.fakes.http import FakeServer, Reply

pytestmark = pytest.mark.e2e
N = 40


def test_the_running_job_of_a_killed_worker_is_requeued_and_its_events_arrive(tmp_path, embedded):
    with FakeServer(lambda req: Reply(200, {}, delay=0.1)) as hook:
        config = write_config(tmp_path, [{"name": "crm", "type": "webhook", "batch_size": 5,
                                          "settings": {"url": hook.base_url}}])
        rt = Runtime(load_config(str(config)))
        accept(config, N)
        (job_id,) = rt.rq_queue("crm").job_ids
        first = Proc(config, "worker")
        second = None
        try:
            hook.wait_for(2, timeout=30)
            first.kill()
            registry = rt.rq_queue("crm").started_job_registry
            assert job_id in registry.get_job_ids(cleanup=False), "the worker finished before it could be killed"
            assert len(arrived(hook)) < N
            assert requeue_jobs_of_dead_workers(rt.redis, [first.popen.pid + 1]) == 0  # not a pid that died
            assert requeue_jobs_of_dead_workers(rt.redis, [first.popen.pid]) == 1
            assert rt.rq_queue("crm").job_ids[0] == job_id  # at the front
            assert job_id not in registry.get_job_ids(cleanup=False)
            assert first.popen.pid not in [w.pid for w in Worker.all(connection=rt.redis)]
            second = Proc(config, "worker", "--with-scheduler")
            deadline = time.monotonic() + 60
            while len(arrived(hook)) < N and time.monotonic() < deadline:
                time.sleep(0.1)
            assert arrived(hook) == {f"m-{i}" for i in range(N)}
        finally:
            for p in (first, second):
                if p is not None:
                    p.stop()


def test_a_dead_worker_is_told_from_a_live_one_of_another_container_with_the_same_hostname_and_pid(tmp_path, embedded):
    # containers with the host's network (hostNetwork pods) share its hostname; their pids start at 1 each
    from rq import SimpleWorker

    from router.supervisor import Supervisor

    config = write_config(tmp_path, [{"name": "crm", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/"}}])
    rt = Runtime(load_config(str(config)))
    supervisor = Supervisor({}, None, embedded.url, lambda message: None)
    others = SimpleWorker([rt.rq_queue("crm")], connection=rt.redis, name="other-container-worker")
    ours = SimpleWorker([rt.rq_queue("crm")], connection=rt.redis, name=worker_name(supervisor))
    for w in (others, ours):
        w.pid = 4242
        w.register_birth()
    supervisor._dead_workers.add(4242)  # what it records when its worker with that pid exits
    supervisor._rescue_jobs()
    assert [w.name for w in Worker.all(connection=rt.redis)] == ["other-container-worker"]


def worker_name(supervisor) -> str:
    from router.rescue import worker_name as name

    return name(supervisor.env)
