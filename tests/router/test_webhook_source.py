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


def test_a_batch_signed_over_its_first_element_only_accepts_only_that_element(rt, client_for):
    first = json.dumps({"type": "track", "userId": "u1", "event": "A"}, separators=(",", ":")).encode()
    second = json.dumps({"type": "identify", "userId": "u2", "traits": {"name": "Zoë"}}, ensure_ascii=False).encode()
    body = b"[" + first + b"," + second + b"]"
    r = client_for(rt).post("/v1/webhook", data=body, headers=signed(body, first))
    assert r.status_code == 200
    assert r.get_json() == {"success": True, "accepted": 1, "duplicates": 0, "suppressed": 0, "rejected": [
        {"index": 1, "errors": [{"path": "", "message": "not covered by X-Signature"}]}]}
    assert [e["userId"] for e in queued(rt)] == ["u1"]


def test_a_captured_first_element_signature_cannot_carry_appended_events(rt, client_for):
    """An attacker replays one signed element with a GDPR delete and an identify appended."""
    captured = json.dumps({"type": "track", "userId": "u1", "event": "A", "messageId": "seg-9"}).encode()
    appended = [{"type": "delete", "userId": "victim"}, {"type": "identify", "userId": "victim", "traits": {"x": 1}}]
    body = b"[" + captured + b"," + b",".join(json.dumps(e).encode() for e in appended) + b"]"
    r = client_for(rt).post("/v1/webhook", data=body, headers=signed(body, captured))
    assert r.status_code == 200
    answer = r.get_json()
    assert answer["accepted"] == 1
    assert [(x["index"], x["errors"][0]["message"]) for x in answer["rejected"]] == [
        (1, "not covered by X-Signature"), (2, "not covered by X-Signature")]
    assert [e["messageId"] for e in queued(rt)] == ["seg-9"]
    assert rt.redis.zcard(rt.queue.keys.regulations) == 0  # the delete did nothing
    kept = [json.loads(f[b"d"]) for _, f in rt.redis.xrange(rt.queue.keys.rejected)]
    assert [(k["event"], k["errors"][0]["message"]) for k in kept] == [
        (appended[0], "not covered by X-Signature"), (appended[1], "not covered by X-Signature")]


def test_a_source_can_refuse_first_element_signatures(make_runtime, client_for):
    rt = make_runtime(destinations=[HOOK], sources=[
        {"name": "segment", "webhook_secret": "whsec-test", "webhook_first_element_signature": False}])
    first = json.dumps({"type": "track", "userId": "u1", "event": "A"}).encode()
    body = b"[" + first + b"," + json.dumps({"type": "delete", "userId": "victim"}).encode() + b"]"
    r = client_for(rt).post("/v1/webhook", data=body, headers=signed(body, first))
    assert r.status_code == 401
    assert r.get_json()["errors"] == [{"path": "X-Signature", "message": (
        "X-Signature covers only the first element; source 'segment' accepts only signatures over "
        "the whole body (webhook_first_element_signature: false)")}]
    assert queued(rt) == []
    whole = client_for(rt).post("/v1/webhook", data=body, headers=signed(body))
    assert whole.status_code == 200 and whole.get_json()["accepted"] == 2


def test_a_batch_signed_over_the_whole_body_is_accepted_whole(rt, client_for):
    events = [{"type": "track", "userId": "u1", "event": "A"}, {"type": "delete", "userId": "u2"},
              {"type": "identify", "userId": "u3"}]
    body = json.dumps(events).encode()
    r = client_for(rt).post("/v1/webhook", data=body, headers=signed(body))
    assert r.status_code == 200 and (r.get_json()["accepted"], r.get_json()["rejected"]) == (3, [])
    assert [(e["type"], e["userId"]) for e in queued(rt)] == [("track", "u1"), ("delete", "u2"), ("identify", "u3")]


@pytest.mark.parametrize("headers,message", [
    ({}, "missing X-Signature header"),
    ({"X-Signature": "0" * 40}, "X-Signature does not match any source's webhook_secret"),
    ({"X-Signature": "é" * 40}, "X-Signature must be 40 hex digits (HMAC-SHA1)"),
    ({"X-Signature": "zz"}, "X-Signature must be 40 hex digits (HMAC-SHA1)"),
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


def test_an_event_over_32_kb_as_json_is_refused_though_its_body_is_smaller(rt, client_for):
    """``9e15`` is stored as ``9000000000000000.0``: the 32 KB limit is on the event's JSON, not its body."""
    event = {"type": "track", "userId": "u1", "event": "floats", "properties": {"n": [9e15] * 1800}}
    body = json.dumps(event).replace("9000000000000000.0", "9e15").encode()
    assert len(body) < 11 * 1024
    r = client_for(rt).post("/v1/webhook", data=body, headers=signed(body))
    assert r.status_code == 400 and "32 KB" in r.get_json()["errors"][0]["message"]
    assert queued(rt) == []
