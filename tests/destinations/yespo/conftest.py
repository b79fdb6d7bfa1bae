from __future__ import annotations

from typing import Iterator

import pytest

from tests.destinations.yespo.fake_yespo import FakeYespo


@pytest.fixture(scope="module")
def yespo_server() -> Iterator[FakeYespo]:
    with FakeYespo() as fake:
        yield fake


@pytest.fixture
def vendor(yespo_server: FakeYespo) -> FakeYespo:
    """The fake Yespo, fresh for each test."""
    yespo_server.reset()
    return yespo_server
