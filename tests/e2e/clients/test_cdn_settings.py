"""``GET /v1/projects/<writeKey>/settings`` on a running router: what analytics.js reads first."""
from __future__ import annotations

import pytest
import requests

from tests.e2e.clients.harness import WRITE_KEY

pytestmark = pytest.mark.e2e


def test_the_settings_point_analytics_js_at_the_router_it_was_loaded_from(router):
    r = requests.get(f"{router.url}/v1/projects/{WRITE_KEY}/settings", headers={"Origin": "http://127.0.0.1:1"}, timeout=5)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    segment_io = r.json()["integrations"]["Segment.io"]
    # analytics.js posts to f"{protocol}://{apiHost}/t": apiHost carries no scheme
    assert segment_io == {**segment_io, "apiKey": WRITE_KEY, "apiHost": f"{router.host}/v1", "protocol": "http"}
    assert r.json()["metrics"]["sampleRate"] == 0  # nothing goes to api.segment.io
    assert list(r.json()["integrations"]) == ["Segment.io"]


def test_behind_a_tls_proxy_the_settings_name_the_public_host(router):
    r = requests.get(f"{router.url}/v1/projects/{WRITE_KEY}/settings", timeout=5,
                     headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "events.example.com"})
    segment_io = r.json()["integrations"]["Segment.io"]
    assert (segment_io["protocol"], segment_io["apiHost"]) == ("https", "events.example.com/v1")


def test_an_unknown_write_key_gets_no_settings(router):
    r = requests.get(f"{router.url}/v1/projects/not-a-key/settings", timeout=5)
    assert r.status_code == 404
    assert r.json()["errors"][0]["message"] == "unknown write key"
    assert r.headers["Access-Control-Allow-Origin"] == "*"  # so the browser can read why
