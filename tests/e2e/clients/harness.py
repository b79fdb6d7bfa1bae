"""What the real-client tests share: a router started as ``eventrouter up`` with a
webhook destination on a fake server, the events every client sends, and the
check of what the destination received."""
from __future__ import annotations

import os
import re
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.e2e.procs import Proc, free_port, wait_http, write_config
from tests.fakes.http import FakeServer

WRITE_KEY = "e2e-write-key"
NODE_DIR = Path(__file__).resolve().parent / "node"
CHROMIUM = "/usr/bin/chromium"
INSTALL_HINT = "run .ci/install-clients"

# the same calls in every client (node/send.js sends these too); the Python clients add to what they are
# given (context.library), so pass them copies
TRAITS = {"email": "grace@example.com", "name": "Grace Hopper", "plan": "pro"}
EVENT = "Order Completed"
PROPERTIES = {"order_id": "o-77", "revenue": 42.5, "products": [{"sku": "sku-1", "quantity": 2}]}
CONTEXT = {"ip": "203.0.113.9", "campaign": {"name": "spring", "source": "newsletter"}}
PAGE_NAME = "Pricing"
PAGE_PROPERTIES = {"path": "/pricing", "title": "Pricing"}


@dataclass
class Router:
    """A running ``eventrouter up`` and the fake destination it delivers to."""

    url: str
    proc: Proc
    hook: FakeServer
    data_dir: Path

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1]

    def access_log(self) -> str:
        return self.proc.output()

    def answered(self, method: str, path: str, status: int) -> bool:
        """Whether the router's access log shows ``method path`` answered with ``status``."""
        line = re.compile(rf'"{method} {re.escape(path)}(?: HTTP/1\.[01])?" {status} ')
        return bool(line.search(self.access_log()))


def start_router(tmp: Path, hook: FakeServer, env: dict[str, str] | None = None) -> Router:
    """``eventrouter up`` on a free loopback port, one web process and one worker."""
    config = write_config(tmp, [{"name": "crm", "type": "webhook", "settings": {"url": hook.base_url + "/hook"}}])
    port = free_port()
    proc = Proc(config, "up", "--port", str(port), "--workers", "1", "--web-workers", "1", env=env)
    if not wait_http(f"http://127.0.0.1:{port}/healthz"):
        proc.stop()
        raise AssertionError("eventrouter up did not come up in 30s:\n" + proc.output())
    return Router(f"http://127.0.0.1:{port}", proc, hook, tmp / "data")


def running_router(tmp: Path, env: dict[str, str] | None = None) -> Iterator[Router]:
    with FakeServer() as hook:
        router = start_router(tmp, hook, env)
        try:
            yield router
        finally:
            code = router.proc.stop()
            assert code == 0, router.proc.output()


def delivered(hook: FakeServer, user_id: str, count: int, timeout: float = 30) -> dict[str, dict[str, Any]]:
    """The events for ``user_id`` the destination received, by type, once they are all there.

    Waits a little past ``count`` so a duplicate would be seen, then fails on any
    duplicate messageId or repeated type.
    """
    deadline = time.monotonic() + timeout
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        events = [r.json() for r in list(hook.requests) if r.json().get("userId") == user_id]
        if len(events) >= count:
            break
        time.sleep(0.05)
    time.sleep(0.5)  # a late duplicate would arrive in this time (retry_base is 200ms in tests)
    events = [r.json() for r in list(hook.requests) if r.json().get("userId") == user_id]
    assert len(events) == count, f"expected {count} events for {user_id}, got {len(events)}: {events}"
    repeated = [m for m, n in Counter(e["messageId"] for e in events).items() if n > 1]
    assert not repeated, f"delivered more than once: {repeated}"
    by_type = {e["type"]: e for e in events}
    assert len(by_type) == count, f"event types repeated: {[e['type'] for e in events]}"
    return by_type


def assert_standard_events(by_type: dict[str, dict[str, Any]], user_id: str, message_ids: dict[str, str],
                           traits_in_context: bool = False) -> None:
    """identify, track and page arrived as the client sent them, each with the messageId the client made.

    ``traits_in_context``: rudder-sdk-python sends identify traits only as ``context.traits``.
    """
    assert set(by_type) == {"identify", "track", "page"}
    assert {t: e["messageId"] for t, e in by_type.items()} == message_ids
    ident, track, page = by_type["identify"], by_type["track"], by_type["page"]
    assert ident["userId"] == track["userId"] == page["userId"] == user_id
    if traits_in_context:
        assert ident["context"]["traits"] == TRAITS and "traits" not in ident
    else:
        assert ident["traits"] == TRAITS
    assert track["event"] == EVENT and track["properties"] == PROPERTIES
    for key, value in CONTEXT.items():
        assert track["context"][key] == value, key
    assert page["name"] == PAGE_NAME
    assert {k: page["properties"][k] for k in PAGE_PROPERTIES} == PAGE_PROPERTIES
    for e in by_type.values():
        assert e["receivedAt"] and e["timestamp"], e


def require_node_packages(*packages: str) -> str:
    """The ``node`` binary, or skip when it or the npm packages are missing."""
    node = shutil.which("node")
    if node is None:
        pytest.skip(f"node is not installed: {INSTALL_HINT}")
    for package in packages:
        if not (NODE_DIR / "node_modules" / package / "package.json").exists():
            pytest.skip(f"npm package {package} is not installed: {INSTALL_HINT}")
    return node


def require_chromium() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"chromium is not installed: {INSTALL_HINT}")
    return CHROMIUM
