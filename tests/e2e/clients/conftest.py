"""One router per test module: the clients' tests each use their own user ids, so they can share it."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.e2e.clients.harness import Router, require_chromium, require_node_packages, running_router


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Router]:
    yield from running_router(tmp_path_factory.mktemp("router"))


@pytest.fixture
def chromium() -> str:
    """Chromium and analytics-next's bundle, or a skip saying how to install them (ask for it before routers)."""
    require_node_packages("@segment/analytics-next")
    return require_chromium()
