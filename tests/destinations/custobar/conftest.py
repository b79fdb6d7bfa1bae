from __future__ import annotations

from typing import Any, Callable

import pytest

from destinations.custobar import CustobarDestination
from destinations.custobar.settings import CustobarSettings

TOKEN = "cb-token-1234"
TS = "2026-11-23T10:00:00.000Z"


def load_settings(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"company": "acme", "token": TOKEN}
    raw.update(overrides)
    return CustobarSettings().load({k: v for k, v in raw.items() if v is not None})


def event(kind: str, **fields: Any) -> dict[str, Any]:
    """A validated Segment event as the engine hands it to map()."""
    base: dict[str, Any] = {
        "type": kind,
        "messageId": f"m-{kind}",
        "timestamp": TS,
        "receivedAt": "2026-11-23T10:00:01.000Z",
        "userId": "user-1",
        "context": {},
        "integrations": {},
    }
    base.update(fields)
    return base


@pytest.fixture
def destination_for() -> Callable[..., CustobarDestination]:
    def build(base_url: str, *, throttle: Callable[[], None] | None = None, **settings: Any) -> CustobarDestination:
        return CustobarDestination(load_settings(base_url=base_url, **settings), throttle=throttle)

    return build
