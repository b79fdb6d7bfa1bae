"""`eventrouter up` with a no-code http destination, filters and a transform: real processes, a fake vendor."""
from __future__ import annotations

import time

import pytest
import requests

from tests.e2e.procs import free_port, small_up, wait_http, write_config
from tests.fakes.http import FakeServer

pytestmark = pytest.mark.e2e


def test_up_delivers_through_a_described_http_api_after_filters_and_a_transform(tmp_path):
    with FakeServer() as vendor:
        dest = {
            "name": "api", "type": "http",
            "settings": {"base_url": vendor.base_url, "auth": "bearer", "token": "e2e-token-123", "requests": [
                {"type": "track", "url": "/users/{{userId}}/events", "batch": {"max": 50, "wrap": "events"},
                 "body": {"name": "event", "plan": "properties.plan", "cents": {"from": "properties.revenue", "type": "cents"}}}]},
            "filters": [{"if": {"event": {"equals": "Internal Ping"}}, "then": "drop"},
                        {"then": {"drop_properties": ["ssn"]}}],
            "transform": "tests.router.transform_examples:upper_plan",
        }
        config = write_config(tmp_path, [dest])
        port = free_port()
        up = small_up(config, port)
        try:
            assert wait_http(f"http://127.0.0.1:{port}/healthz"), up.output()
            events = [{"type": "track", "userId": "u1", "event": "Order Completed", "messageId": "m1",
                       "properties": {"plan": "pro", "revenue": 12.5, "ssn": "1"}},
                      {"type": "track", "userId": "u1", "event": "Internal Ping", "messageId": "m2"}]
            r = requests.post(f"http://127.0.0.1:{port}/v1/batch", json={"batch": events},
                              auth=("e2e-write-key", ""), timeout=10)
            assert r.status_code == 200 and r.json()["accepted"] == 2
            (req,) = vendor.wait_for(1, timeout=30)
            assert (req.method, req.path) == ("POST", "/users/u1/events")
            assert req.headers["Authorization"] == "Bearer e2e-token-123"
            assert req.json() == {"events": [{"name": "Order Completed", "plan": "PRO", "cents": 1250}]}
            admin = {"Authorization": "Bearer admin-secret-token"}
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                (api,) = requests.get(f"http://127.0.0.1:{port}/v1/admin/destinations", headers=admin, timeout=5).json()["destinations"]
                if api.get("delivered") == 1 and api.get("filtered") == 1:
                    break
                time.sleep(0.2)
            assert (api.get("delivered"), api.get("filtered")) == (1, 1), api
            trace = requests.get(f"http://127.0.0.1:{port}/v1/admin/trace?messageId=m2", headers=admin, timeout=5).json()
            attempt = trace["traces"][0]["entries"][-1]
            assert attempt["reason"] == "filtered: filters[0]: event equals 'Internal Ping'"
            assert len(vendor.requests) == 1
        finally:
            assert up.stop() == 0, up.output()
