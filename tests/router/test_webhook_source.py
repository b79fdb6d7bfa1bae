"""Segment itself as a source, through its Webhooks destination."""
from __future__ import annotations

import hashlib
import hmac
import json

import pytest

SECRET = b"whsec-test"
HOOK = {"name": "hook", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/hook"}}


def signed(body: bytes, part: bytes | None = None) -> dict[str, str]:
    return {"X-Signature": hmac.new(SECRET, part or body, hashlib.sha1).hexdigest(), "Content-Type": "application/json"}


@pytest.fixture
def rt(make_runtime):
    return make_runtime(destinations=[HOOK])


def queued(rt):
    return [json.loads(x)["e"] for x in rt.redis.lrange(rt.queue.keys.buf("hook"), 0, -1)]


def test_a_signed_event_is_accepted(rt, client_for):
    body = json.dumps({"type": "track", "userId": "u1", "event": "Signed Up", "messageId": "seg-1"}).encode()
    r = client_for(rt).post("/v1/webhook", data=body, headers=signed(body))
    assert r.status_code == 200 and r.get_json()["accepted"] == 1
    assert queued(rt)[0]["messageId"] == "seg-1"


def test_a_batch_signed_over_its_first_element_only_is_accepted(rt, client_for):
    first = json.dumps({"type": "track", "userId": "u1", "event": "A"}, separators=(",", ":")).encode()
    second = json.dumps({"type": "identify", "userId": "u2", "traits": {"name": "Zoë"}}, ensure_ascii=False).encode()
    body = b"[" + first + b"," + second + b"]"
    r = client_for(rt).post("/v1/webhook", data=body, headers=signed(body, first))
    assert r.status_code == 200 and r.get_json()["accepted"] == 2
    assert [e["userId"] for e in queued(rt)] == ["u1", "u2"]


def test_a_batch_signed_over_the_whole_body_is_accepted(rt, client_for):
    body = json.dumps([{"type": "track", "userId": "u1", "event": "A"}]).encode()
    assert client_for(rt).post("/v1/webhook", data=body, headers=signed(body)).status_code == 200


@pytest.mark.parametrize("headers,message", [
    ({}, "missing X-Signature header"),
    ({"X-Signature": "0" * 40}, "X-Signature does not match any source's webhook_secret"),
])
def test_a_bad_or_missing_signature_is_401(rt, client_for, headers, message):
    body = json.dumps({"type": "track", "userId": "u1", "event": "A"}).encode()
    r = client_for(rt).post("/v1/webhook", data=body, headers={"Content-Type": "application/json", **headers})
    assert r.status_code == 401
    assert r.get_json()["errors"][0]["message"] == message
    assert queued(rt) == []


def test_an_invalid_webhook_event_is_400_and_kept(rt, client_for):
    body = json.dumps({"type": "track", "userId": "u1"}).encode()
    r = client_for(rt).post("/v1/webhook", data=body, headers=signed(body))
    assert r.status_code == 400
    assert json.loads(rt.redis.xrange(rt.queue.keys.rejected)[0][1][b"d"])["source"] == "segment"
