"""What one process of a deployment shares: the config, the Redis client, the
queue, the router, the destination instances and their RQ queues."""
from __future__ import annotations

import os
import threading
import uuid
from typing import Any, ClassVar, Iterable

import redis
import rq

from destinations.base import Destination
from router.config import Config, DestinationConfig, load_config
from router.queue import DeliveryQueue, now_ms
from router.envelopes import envelope
from router.ratelimit import Limiter, Throttle
from router.redact import Redactor
from router.redis_server import connect, resolve_url
from router.routing import Router

#: a drain job never runs longer than this (it stops taking batches after drain_budget)
JOB_TIMEOUT = 3600


class Runtime:
    _current: ClassVar["Runtime | None"] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, config: Config, client: redis.Redis | None = None) -> None:
        self.config = config
        if client is None:
            self.redis_url = resolve_url(config.redis_url, config.data_dir)
            client = connect(self.redis_url)
        else:
            self.redis_url = ""
        self.redis = client
        d = config.delivery
        self.queue = DeliveryQueue(client, config.namespace, lease=d["lease"], retention=config.metrics["retention"],
                                   trace_cap=config.trace["max_events"])
        self.router = Router(config.destinations)
        #: every configured secret value, for whatever the router stores or shows
        self.redactor = Redactor(config.secrets)
        self._instances: dict[str, Destination] = {}
        self._rq: dict[str, rq.Queue] = {}

    @classmethod
    def load(cls, path: str | None = None) -> "Runtime":
        """The runtime of the config the CLI was given (``--config`` / ``EVENTROUTER_CONFIG``)."""
        return cls(load_config(path))

    @classmethod
    def current(cls) -> "Runtime":
        """This process's runtime (RQ jobs use it); built once from the environment."""
        with cls._lock:
            if cls._current is None:
                cls._current = cls.load()
            return cls._current

    @classmethod
    def set_current(cls, runtime: "Runtime | None") -> None:
        with cls._lock:
            cls._current = runtime

    # destinations -------------------------------------------------------------
    def destination_config(self, name: str) -> DestinationConfig:
        return self.config.destination(name)

    def build(self, name: str) -> Destination:
        """The plugin instance for a destination, with the shared rate limit wired in (cached)."""
        inst = self._instances.get(name)
        if inst is None:
            dc = self.config.destination(name)
            key = f"{self.config.namespace}:rl:{name}"
            default = Limiter(self.redis, key, dc.rate_limit) if dc.rate_limit else None
            named = {b: Limiter(self.redis, f"{key}:{b}", rate) for b, rate in dc.rate_limits.items()}
            inst = dc.plugin(dc.settings, throttle=Throttle(default, named))
            self._instances[name] = inst
        return inst

    # RQ ---------------------------------------------------------------------------
    def queue_name(self, dest: str) -> str:
        return f"{self.config.namespace}-{dest}"

    def rq_queue(self, dest: str) -> rq.Queue:
        q = self._rq.get(dest)
        if q is None:
            q = rq.Queue(self.queue_name(dest), connection=self.redis)
            self._rq[dest] = q
        return q

    def rq_queues(self, names: Iterable[str] | None = None) -> list[rq.Queue]:
        wanted = list(names) if names else [d.name for d in self.config.enabled_destinations]
        # a worker needs at least one queue to wait on, even with no destination enabled yet
        return [self.rq_queue(n) for n in wanted] or [rq.Queue(f"{self.config.namespace}-idle", connection=self.redis)]

    def wake(self, wakes: Iterable[tuple[str, str]]) -> None:
        """Enqueue one drain job per (destination, token) the queue scripts handed out."""
        for dest, token in wakes:
            if token:
                self.rq_queue(dest).enqueue(
                    "router.delivery.drain_job",
                    dest,
                    token,
                    job_id=f"{self.config.namespace}-drain-{dest}-{token}",
                    job_timeout=JOB_TIMEOUT,
                    result_ttl=60,
                    failure_ttl=7 * 86400,
                )

    def enqueue(self, destination_name: str, events: list[dict[str, Any]]) -> int:
        """Queue Segment-shaped events straight into one destination's buffer (backfills, replays)."""
        if not self.config.destination(destination_name).enabled:
            # nothing drains a disabled destination: refuse rather than let the events wait unseen
            raise LookupError(f"destination {destination_name!r} is disabled (enabled: false); enable it first")
        received = now_ms()
        envs = [envelope(e, uuid.uuid4().hex, received) for e in events]
        for start in range(0, len(envs), 1000):
            token = self.queue.push(destination_name, envs[start : start + 1000])
            self.wake([(destination_name, token)])
        return len(envs)

    def worker_env(self) -> dict[str, str]:
        """Environment for child processes so they use the same config and Redis."""
        env = dict(os.environ)
        if self.config.path:
            env["EVENTROUTER_CONFIG"] = os.path.abspath(self.config.path)
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        return env
