"""What the clients rely on when the router can't store events: a 503 with
Retry-After, which analytics-python and analytics.js retry. Redis (the
deployment's embedded server) goes away for a few seconds while a client sends;
every event still arrives, once."""
from __future__ import annotations

import threading
import time
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests

from router.redis_server import EmbeddedRedis
from tests.e2e.clients.browser import Chromium, PageServer
from tests.e2e.clients.harness import (CONTEXT, EVENT, PAGE_NAME, PAGE_PROPERTIES, PROPERTIES, TRAITS, WRITE_KEY, Router,
                                       assert_standard_events, delivered, start_router)
from tests.fakes.http import FakeServer

segment = pytest.importorskip("segment.analytics", reason="segment-analytics-python is not installed: pip install -e '.[test]'")

pytestmark = pytest.mark.e2e


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@dataclass
class Outage:
    """A router on an embedded Redis that the test stops and starts."""

    router: Router
    data_dir: Path
    server: EmbeddedRedis

    def redis_down(self) -> None:
        self.server.stop()

    def redis_back_after_a_refusal(self, path: str) -> None:
        """Once the router has answered ``path`` with 503, keep Redis down a moment longer, then start it."""
        assert wait_until(lambda: self.router.answered("POST", path, 503), 30), \
            f"the router never refused POST {path} with 503:\n{self.router.access_log()[-3000:]}"
        time.sleep(1)  # into the client's Retry-After wait (2 s)
        self.server = EmbeddedRedis(self.data_dir)
        self.server.start()


@pytest.fixture
def outage(tmp_path: Path) -> Iterator[Outage]:
    data_dir = tmp_path / "data"
    server = EmbeddedRedis(data_dir)
    server.start()  # ours, not `up`'s, so the test can stop and restart it
    with FakeServer() as hook:
        # REDIS_URL="" keeps the embedded server even when CI sets REDIS_URL for the rest of the suite
        router = start_router(tmp_path, hook, env={"REDIS_URL": ""})
        state = Outage(router, data_dir, server)
        try:
            # a worker still starting when Redis goes away exits (and `up` with it): wait until it is working
            assert wait_until(lambda: requests.get(router.url + "/healthz", timeout=5).json().get("workers") == 1, 20), \
                "the delivery worker never registered:\n" + router.access_log()
            yield state
        finally:
            router.proc.stop()
            state.server.stop()
        assert "a child process exited" not in router.access_log(), router.access_log()


def test_analytics_python_retries_through_a_redis_outage_and_nothing_is_lost_or_doubled(outage):
    errors = []
    client = segment.Client(WRITE_KEY, host=outage.router.url, upload_interval=0.1,
                            on_error=lambda e, batch: errors.append(e))
    outage.redis_down()
    ids = {
        "identify": client.identify("outage-py", deepcopy(TRAITS))[1]["messageId"],
        "track": client.track("outage-py", EVENT, deepcopy(PROPERTIES), context=deepcopy(CONTEXT))[1]["messageId"],
        "page": client.page("outage-py", name=PAGE_NAME, properties=deepcopy(PAGE_PROPERTIES))[1]["messageId"],
    }
    outage.redis_back_after_a_refusal("/v1/batch")
    flushing = threading.Thread(target=client.flush, daemon=True)
    flushing.start()
    flushing.join(30)
    assert not flushing.is_alive(), "analytics-python never got its batch accepted:\n" + outage.router.access_log()[-6000:]
    client.shutdown()
    assert errors == []
    assert_standard_events(delivered(outage.router.hook, "outage-py", 3), "outage-py", ids)
    assert outage.router.answered("POST", "/v1/batch", 200), "the retry was never accepted"


def test_analytics_js_retries_through_a_redis_outage_across_origins(chromium, outage, tmp_path):
    """The browser's retry carries an ``X-Retry-Count`` header: the CORS preflight must allow it."""
    outage.redis_down()
    with PageServer(outage.router.url, WRITE_KEY, "outage-browser") as page:
        browser = Chromium(chromium, page.base_url + "/page.html", tmp_path / "profile")
        try:
            outage.redis_back_after_a_refusal("/v1/i")
            report = page.wait_report(timeout=45)
            assert report is not None, "the page never reported:\n" + browser.output()
            assert "error" not in report, report["error"]
            # the page may report before its retries are through: keep the browser open until they arrive
            by_type = delivered(outage.router.hook, "outage-browser", 3, timeout=40)
        finally:
            browser.stop()
    assert_standard_events(by_type, "outage-browser", report["ids"])
    assert outage.router.answered("POST", "/v1/i", 200)
