"""Requeue the RQ jobs of a worker process that died while running them.

A drain job holds a drain token from the moment ingest hands it out. If its
worker dies before the job claims a batch (typically: Redis went away and the
job's first command failed, and then RQ's own failure bookkeeping failed too),
RQ leaves the job "started" for its whole timeout and the token keeps other
drains away until the pickup window ends: minutes without delivery. The
process that saw the worker die knows it is dead, so it puts the job back.
"""
from __future__ import annotations

import os
import socket
import uuid
from typing import Iterable, Mapping

import redis
from rq import Queue, Worker
from rq.job import JobStatus


#: set by ``up``'s supervisor for its children: their RQ worker names start with it
SUPERVISOR_ENV = "EVENTROUTER_SUPERVISOR"


def worker_name(env: Mapping[str, str] = os.environ) -> str | None:
    """The RQ name of a worker ``up`` started: its supervisor's id, then a unique part (a worker
    that starts again after a Redis error registers anew). None: RQ's own name."""
    supervisor = env.get(SUPERVISOR_ENV)
    return f"{supervisor}.{uuid.uuid4().hex}" if supervisor else None


def requeue_jobs_of_dead_workers(connection: redis.Redis, dead_pids: Iterable[int], supervisor: str = "") -> int:
    """Requeue (at the front) the started jobs of this host's workers with these pids, and the
    jobs they had taken off their queues but not started; the count. With ``supervisor`` only
    that supervisor's workers: containers sharing the host's hostname number their pids alike,
    and a live worker of another one must keep its job."""
    dead = set(dead_pids)
    host = socket.gethostname()
    requeued = 0
    for worker in Worker.all(connection=connection):
        if worker.hostname != host or worker.pid not in dead:
            continue
        if supervisor and not worker.name.startswith(f"{supervisor}."):
            continue
        for execution in worker.get_current_executions(refresh=True):
            job = execution.job
            if job.get_status(refresh=True) != JobStatus.STARTED:
                continue
            queue = Queue(job.origin, connection=connection)
            queue.started_job_registry.remove_executions(job)
            queue.enqueue_job(job, at_front=True)
            requeued += 1
        for queue in worker.queues:
            requeued += requeue_taken(queue)
        worker.register_death()
    return requeued


def requeue_taken(queue: Queue) -> int:
    """Requeue the jobs of ``queue`` a worker took (RQ moves a job to the queue's intermediate list
    as it takes it) and never started: the worker died in between. RQ itself only fails such a job,
    after a minute and at its next maintenance (every 10 minutes). A live worker's job in that
    list for the milliseconds before it starts may be requeued too: a drain job run twice is one
    drainer more for a while (delivery is at-least-once), never a lost event."""
    requeued = 0
    for job_id in queue.intermediate_queue.get_job_ids():
        job = queue.fetch_job(job_id)
        if job is None or job.get_status(refresh=False) != JobStatus.QUEUED or job_id in queue.started_job_registry:
            continue
        queue.intermediate_queue.remove(job_id)
        queue.enqueue_job(job, at_front=True)
        requeued += 1
    return requeued
