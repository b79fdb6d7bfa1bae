"""Helpers the tests share (fixtures are in conftest.py)."""
from __future__ import annotations

import uuid
from typing import Any

from rq import SimpleWorker

from router.runtime import Runtime
from router.scheduler import Scheduler

WRITE_KEY = "test-write-key"


def base_config(**overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "redis_url": "redis://unused",  # tests hand the runtime its client
        "namespace": f"t{uuid.uuid4().hex[:12]}",
        "admin_token": "admin-secret-token",
        "sources": [
            {"name": "website", "write_keys": [WRITE_KEY], "accept_delete_calls": True},
            {"name": "segment", "webhook_secret": "whsec-test"},
        ],
        "delivery": {"retry_base": "100ms", "retry_max": "1s", "lease": "3s", "drain_budget": "5s"},
        "destinations": [],
    }
    cfg.update(overrides)
    return cfg


def work(rt: Runtime, rounds: int = 1) -> None:
    """Deliver what is queued: scheduler ticks plus an in-process RQ worker in burst mode."""
    for _ in range(rounds):
        Scheduler(rt).tick()
        SimpleWorker(rt.rq_queues(), connection=rt.redis).work(burst=True, logging_level="WARNING")


def webhook_destination(url: str, name: str = "hook", **extra: Any) -> dict[str, Any]:
    settings = {"url": url, "shared_secret": "hook-secret-1234", **extra.pop("settings", {})}
    return {"name": name, "type": "webhook", "settings": settings, **extra}
