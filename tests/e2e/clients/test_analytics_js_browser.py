"""analytics.js (@segment/analytics-next) in headless Chromium, configured only with
``cdnURL`` = the router: it loads its settings from the router and sends there."""
from __future__ import annotations

import re

import pytest

from tests.e2e.clients.browser import BUNDLES, Chromium, PageServer
from tests.e2e.clients.harness import WRITE_KEY, assert_standard_events, delivered

pytestmark = pytest.mark.e2e


def test_analytics_js_in_a_browser_loads_its_settings_from_the_router_and_delivers_there(chromium, router, tmp_path):
    assert (BUNDLES / "index.js").is_file()
    with PageServer(router.url, WRITE_KEY, "browser-user") as page:
        browser = Chromium(chromium, page.base_url + "/page.html", tmp_path / "profile")
        try:
            report = page.wait_report(timeout=45)
        finally:
            browser.stop()
        assert report is not None, "the page never reported:\n" + browser.output()
        assert "error" not in report, report["error"]
        assert report["failed"] == {}
        # everything the page loaded came from the page's server or the router: no CDN, no segment.com
        origins = {re.match(r"^https?://[^/]+", url).group(0) for url in report["resources"]}
        assert origins <= {page.base_url, router.url}, origins
        assert f"{router.url}/v1/projects/{WRITE_KEY}/settings" in report["resources"]

    by_type = delivered(router.hook, "browser-user", 3)
    assert_standard_events(by_type, "browser-user", report["ids"])
    track = by_type["track"]
    assert track["context"]["library"]["name"] == "analytics.js"
    assert track["context"]["page"]["url"] == page.base_url + "/page.html"
    assert track["anonymousId"] == by_type["identify"]["anonymousId"]
    assert by_type["page"]["category"] == "Docs"

    # the short paths, each after a CORS preflight (analytics.js sends the write key as Basic auth)
    for short in ("/v1/i", "/v1/t", "/v1/p"):
        assert router.answered("OPTIONS", short, 204), f"no preflight for {short}"
        assert router.answered("POST", short, 200), f"no POST {short}"
    assert router.answered("GET", f"/v1/projects/{WRITE_KEY}/settings", 200)
