"""Shared fixtures: a real Redis (embedded, or REDIS_URL), runtimes with their
own key namespace per test, the Flask test client, and an in-process worker."""
from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import redis

from router.app import create_app
from router.config import parse_config
from router.redis_server import EmbeddedRedis, connect
from router.runtime import Runtime
from tests.helpers import base_config

@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL when set (CI runs the suite against both), else an embedded server for the session."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def redis_client(redis_url: str) -> redis.Redis:
    return connect(redis_url)


@pytest.fixture
def make_runtime(redis_client: redis.Redis) -> Iterator[Callable[..., Runtime]]:
    made: list[Runtime] = []

    def make(**overrides: Any) -> Runtime:
        saved = os.environ.pop("REDIS_URL", None)
        try:
            config = parse_config(base_config(**overrides))
        finally:
            if saved is not None:
                os.environ["REDIS_URL"] = saved
        rt = Runtime(config, redis_client)
        Runtime.set_current(rt)
        made.append(rt)
        return rt

    yield make
    Runtime.set_current(None)
    for rt in made:
        keys = list(rt.redis.scan_iter(f"{rt.config.namespace}*", count=1000))
        keys += list(rt.redis.scan_iter(f"rq:*{rt.config.namespace}-*", count=1000))
        if keys:
            rt.redis.delete(*keys)


@pytest.fixture
def client_for() -> Callable[[Runtime], Any]:
    return lambda rt: create_app(runtime=rt).test_client()


@pytest.fixture(autouse=True)
def no_stray_redis(request: pytest.FixtureRequest) -> Iterator[None]:
    """Processes a test starts may start an embedded Redis under its tmp_path; stop it with the test."""
    yield
    tmp = request.node.funcargs.get("tmp_path")
    if tmp is None:
        return
    for pidfile in Path(tmp).rglob("redis.pid"):
        try:
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
        except (ValueError, ProcessLookupError):
            continue  # already gone
