"""`eventrouter up`'s watchdog: every process it started, the embedded Redis
included, is started again when it exits, so a crash heals without an operator.

Redis comes back on the same data directory and replays its AOF; the web
processes and workers reconnect on their next command (redis-py drops a broken
connection and dials again), and a child that gave up while Redis was away
exits and is started here again, waiting for Redis before it does any work.
A worker that died in the middle of a job gets that job requeued (router/rescue).
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue

from router.redis_server import EmbeddedRedis, connect
from router.rescue import SUPERVISOR_ENV, requeue_jobs_of_dead_workers, requeue_taken

#: a child (or Redis) that exits more often than this is broken, not unlucky: stop everything
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0
#: how often exits are looked for; a killed Redis is back within about this long
POLL_INTERVAL = 0.2
STOP_TIMEOUT = 15.0
#: prctl(2): the signal a child gets when the thread that started it dies (Linux)
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A child that gets SIGTERM when `up` dies, SIGKILLed too: web, workers and scheduler left
    running without their supervisor would hold the port, so `up` could not be started again."""
    if _LIBC is None:
        return subprocess.Popen(args, env=env)
    parent = os.getpid()

    def die_with_parent() -> None:  # in the child, before exec: only the libc call, no Python locks
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # `up` died before the call
            os.kill(os.getpid(), signal.SIGTERM)

    return subprocess.Popen(args, env=env, preexec_fn=die_with_parent)


@dataclass
class Child:
    """One supervised process and its recent restart times."""

    role: str
    args: list[str]
    popen: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)

    def too_many_restarts(self) -> bool:
        now = time.monotonic()
        self.restarts = [t for t in self.restarts if now - t < RESTART_WINDOW] + [now]
        return len(self.restarts) > MAX_RESTARTS


class Supervisor:
    """Starts the children, restarts whichever exits, stops them all in order (Redis last)."""

    def __init__(self, env: dict[str, str], server: EmbeddedRedis | None, redis_url: str, log: Callable[[str], None]) -> None:
        #: its children's RQ worker names start with this (router/rescue.worker_name)
        self.id = uuid.uuid4().hex[:12]
        self.env = {**env, SUPERVISOR_ENV: self.id}
        self.redis = server
        self.log = log
        self.children: list[Child] = []
        self._redis_child = Child("embedded Redis", [])
        # fail fast: a retry loop here would delay noticing the next exit
        self._client = connect(redis_url, socket_timeout=5, retry=Retry(NoBackoff(), 0))
        self._dead_workers: set[int] = set()
        #: set when something kept exiting and everything was stopped: `up` then exits 1, not 0
        self.gave_up = False

    def rescue_taken(self, queue_names: list[str]) -> None:
        """Before the workers start: requeue the drain jobs a worker took off these RQ queues and
        died before starting (an `up` killed with its workers): their drain tokens would keep the
        destinations idle for the pickup window."""
        try:
            n = sum(requeue_taken(Queue(name, connection=self._client)) for name in queue_names)
        except redis.RedisError as exc:
            self.log(f"could not look for jobs of workers that died ({type(exc).__name__}); they run after the pickup window")
            return
        if n:
            self.log(f"requeued {n} job{'s' if n != 1 else ''} taken by a worker that died before starting {'them' if n != 1 else 'it'}")

    def spawn(self, role: str, args: list[str]) -> None:
        child = Child(role, args)
        child.popen = _start(args, self.env)
        self.children.append(child)

    def run(self, stopping: threading.Event) -> None:
        """Watch until ``stopping`` is set, or something keeps crashing (then set it)."""
        while not stopping.is_set():
            self._check_redis(stopping)
            for child in self.children:
                if stopping.is_set():
                    break
                self._check_child(child, stopping)
            self._rescue_jobs()
            stopping.wait(POLL_INTERVAL)

    def _rescue_jobs(self) -> None:
        """Requeue what dead workers were running; while Redis is away, try again next round."""
        if not self._dead_workers:
            return
        try:
            n = requeue_jobs_of_dead_workers(self._client, self._dead_workers, self.id)
        except redis.RedisError:
            return
        if n:
            self.log(f"requeued {n} job{'s' if n != 1 else ''} of a worker that died running {'them' if n != 1 else 'it'}")
        self._dead_workers.clear()

    def _check_redis(self, stopping: threading.Event) -> None:
        server = self.redis
        if server is not None and server.process is None and server.owner_gone():
            # another `up`'s Redis on this data dir, and that `up` is gone (killed outright: it left
            # its Redis running; or stopped: with it): this one starts it and supervises it now
            self.log(f"the eventrouter up that ran the embedded Redis on {server.data_dir} is gone; taking it over")
            try:
                server.start(adopt=True)
            except RuntimeError as exc:
                self.log(str(exc))  # the next round tries again
            return
        if server is None or server.process is None or server.process.poll() is None:
            return
        code = server.process.returncode
        if self._redis_child.too_many_restarts():
            self.log(f"embedded Redis keeps exiting ({len(self._redis_child.restarts)} in {RESTART_WINDOW:.0f}s); stopping")
            self.gave_up = True
            stopping.set()
            return
        self.log(f"embedded Redis exited with code {code}; starting it again on {server.data_dir}")
        try:
            if not server.start():
                # something else answers on the socket now; it is not ours to stop
                server.process = None
        except RuntimeError as exc:
            self.log(str(exc))  # the next round tries again, within the restart budget

    def _check_child(self, child: Child, stopping: threading.Event) -> None:
        assert child.popen is not None
        if child.popen.poll() is None:
            return
        if child.too_many_restarts():
            self.log(f"{child.role} keeps exiting ({len(child.restarts)} in {RESTART_WINDOW:.0f}s); stopping")
            self.gave_up = True
            stopping.set()
            return
        self.log(f"{child.role} exited with code {child.popen.returncode}; starting it again")
        if child.role == "worker":
            self._dead_workers.add(child.popen.pid)
        child.popen = _start(child.args, self.env)

    def stop(self) -> None:
        """SIGTERM every child, SIGKILL what is left after STOP_TIMEOUT, then stop Redis (it flushes its AOF)."""
        live = [c.popen for c in self.children if c.popen is not None and c.popen.poll() is None]
        for p in live:
            p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for p in live:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if self.redis is not None:
            self.redis.stop()
