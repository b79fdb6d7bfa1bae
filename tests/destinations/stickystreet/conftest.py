from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from destinations.stickystreet import StickyStreetDestination
from tests.destinations.stickystreet.fake_stickystreet import ACCOUNT_ID, API_KEY, USER_ID, FakeStickyStreet

Build = Callable[..., StickyStreetDestination]


@pytest.fixture(scope="module")
def sticky_server() -> Iterator[FakeStickyStreet]:
    with FakeStickyStreet() as fake:
        yield fake


@pytest.fixture
def vendor(sticky_server: FakeStickyStreet) -> Iterator[FakeStickyStreet]:
    """The fake Sticky Street, fresh for each test; it must have seen nothing that breaks the vendor's rules."""
    sticky_server.reset()
    yield sticky_server
    assert sticky_server.violations == []


def settings(**overrides: Any) -> dict[str, Any]:
    """Loaded settings (defaults applied) for the given raw overrides."""
    raw = {
        "user_id": USER_ID,
        "user_api_key": API_KEY,
        "account_id": ACCOUNT_ID,
        "campaigns_to_include": "898989889, 13234545",
        "base_url": "http://127.0.0.1:9",
        **overrides,
    }
    return StickyStreetDestination.settings_schema().load(raw)


@pytest.fixture
def build(vendor: FakeStickyStreet) -> Build:
    """A destination pointed at the fake vendor, with settings overrides."""

    def make(**overrides: Any) -> StickyStreetDestination:
        return StickyStreetDestination(settings(base_url=vendor.base_url, **overrides))

    return make
