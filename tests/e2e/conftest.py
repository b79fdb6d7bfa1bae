"""Fixtures the end-to-end tests share."""
from __future__ import annotations

from typing import Iterator

import pytest

from router.redis_server import EmbeddedRedis


@pytest.fixture
def embedded(tmp_path) -> Iterator[EmbeddedRedis]:
    """The deployment's own embedded Redis (the processes use REDIS_URL instead when it is set)."""
    server = EmbeddedRedis(tmp_path / "data")
    server.start()
    yield server
    server.stop()
