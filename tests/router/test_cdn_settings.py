"""The analytics.js settings document: it names the router as the browser reached it, and only a
proxy the operator trusts may say otherwise."""
from __future__ import annotations

from tests.helpers import WRITE_KEY

FORGED = {"X-Forwarded-Host": "attacker.example", "X-Forwarded-Proto": "https"}


def segment_io(client, remote_addr: str) -> dict:
    r = client.get(f"/v1/projects/{WRITE_KEY}/settings", headers=FORGED, environ_base={"REMOTE_ADDR": remote_addr})
    assert r.status_code == 200
    return r.get_json()["integrations"]["Segment.io"]


def test_x_forwarded_host_from_a_client_that_is_not_a_trusted_proxy_does_not_redirect_analytics_js(
        make_runtime, client_for, monkeypatch):
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    client = client_for(make_runtime())
    assert (segment_io(client, "203.0.113.9")["apiHost"], segment_io(client, "203.0.113.9")["protocol"]) == ("localhost/v1", "http")
    assert segment_io(client, "127.0.0.1")["apiHost"] == "attacker.example/v1"  # gunicorn's default: a local proxy


def test_the_proxies_trusted_are_gunicorns_forwarded_allow_ips(make_runtime, client_for, monkeypatch):
    client = client_for(make_runtime())
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.0/8, 192.0.2.7")
    assert segment_io(client, "10.1.2.3")["apiHost"] == "attacker.example/v1"
    assert segment_io(client, "192.0.2.7")["protocol"] == "https"
    assert segment_io(client, "127.0.0.1")["apiHost"] == "localhost/v1"
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    assert segment_io(client, "203.0.113.9")["apiHost"] == "attacker.example/v1"


def test_an_unknown_write_key_gets_404_with_cors(make_runtime, client_for):
    r = client_for(make_runtime()).get("/v1/projects/nope/settings", headers={"Origin": "null"})
    assert r.status_code == 404
    assert r.headers["Access-Control-Allow-Origin"] == "*"
