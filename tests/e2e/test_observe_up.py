"""Observability through `eventrouter up`: /metrics, JSON log lines from the worker, trace and tester."""
from __future__ import annotations

import json
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.procs import free_port, small_up, wait_http, write_config
from tests.fakes.http import FakeServer, Reply

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": "Bearer admin-secret-token"}


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_up_reports_metrics_logs_json_dead_letters_and_traces_them(tmp_path):
    with FakeServer(lambda req: Reply(422, "bad list") if req.json()["messageId"] == "bad-1" else Reply(200, {})) as hook:
        config = write_config(tmp_path, [{"name": "crm", "type": "webhook",
                                          "settings": {"url": hook.base_url, "shared_secret": "s3cret-e2e"}}],
                              log_format="json")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        up = small_up(config, port)
        try:
            assert wait_http(f"{base}/healthz"), up.output()
            batch = [{"type": "track", "userId": "u1", "event": "Order Completed", "messageId": mid} for mid in ("ok-1", "bad-1")]
            r = requests.post(f"{base}/v1/batch", json={"batch": batch}, auth=("e2e-write-key", ""), timeout=10)
            assert r.json()["accepted"] == 2
            hook.wait_for(2, timeout=30)
            deadline = time.monotonic() + 30
            m: dict = {}
            while time.monotonic() < deadline:
                m = samples(requests.get(f"{base}/metrics", headers=ADMIN, timeout=5).text)
                if m[("eventrouter_dead_letters", (("destination", "crm"),))] == 1 and m[("eventrouter_scheduler_up", ())] == 1:
                    break
                time.sleep(0.2)
            crm = (("destination", "crm"),)
            assert m[("eventrouter_delivery_events_total", crm + (("outcome", "delivered"),))] == 1
            assert m[("eventrouter_delivery_events_total", crm + (("outcome", "rejected"),))] == 1
            assert m[("eventrouter_delivery_latency_seconds_count", crm)] == 1
            assert m[("eventrouter_ingest_events_total", (("source", "app"), ("status", "accepted")))] == 2
            assert (m[("eventrouter_workers", ())], m[("eventrouter_scheduler_up", ())]) == (1, 1)
            assert requests.get(f"{base}/metrics", timeout=5).status_code == 401
            (t,) = requests.get(f"{base}/v1/admin/trace", params={"messageId": "bad-1"}, headers=ADMIN, timeout=5).json()["traces"]
            assert t["destinations"] == {"crm": "dead letter"}
            again = requests.post(f"{base}/v1/admin/test/crm", json=batch[0], headers=ADMIN, timeout=10).json()
            assert again["routed"] is False and "ingest would drop it as a duplicate" in again["reason"]
            report = requests.post(f"{base}/v1/admin/test/crm", json={**batch[0], "messageId": "new-1"}, headers=ADMIN, timeout=10).json()
            assert report["routed"] is True and report["requests"][0]["url"] == hook.base_url + "/"
            assert len(hook.requests) == 2  # the tester's dry run sent nothing
        finally:
            up.stop()
        lines = [json.loads(line) for line in up.output().splitlines() if line.startswith("{")]
        dead = [entry for entry in lines if entry.get("event") == "dead_letter"]
        assert [(d["level"], d["destination"], d["messageId"], d["status"], d["reason"]) for d in dead] == [
            ("WARNING", "crm", "bad-1", 422, "webhook answered 422")]
        assert "s3cret-e2e" not in up.output()
