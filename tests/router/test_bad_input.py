"""Bad input never gives a 5xx, and never costs the valid events beside it."""
from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json

import pytest

from tests.helpers import WRITE_KEY

AUTH = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}
ADMIN = {"Authorization": "Bearer admin-secret-token"}
HOOK = {"name": "hook", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/hook"}}
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def rt(make_runtime):
    return make_runtime(destinations=[HOOK])


@pytest.fixture
def client(rt, client_for):
    return client_for(rt)


def buffered(rt):
    return [json.loads(x)["e"] for x in rt.redis.lrange(rt.queue.keys.buf("hook"), 0, -1)]


def kept_rejections(rt):
    return [json.loads(f[b"d"]) for _, f in rt.redis.xrange(rt.queue.keys.rejected)]


def signed(body: bytes) -> dict[str, str]:
    return {**JSON, "X-Signature": hmac.new(b"whsec-test", body, hashlib.sha1).hexdigest()}


def ok(i: int) -> dict:
    return {"type": "track", "userId": f"u{i}", "event": "Fine", "messageId": f"ok-{i}"}


def batch_text(*events: str) -> bytes:
    """A batch body from event texts, so a test can send JSON that Python's json.dumps would not write."""
    return ('{"batch":[' + ",".join(events) + "]}").encode()


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("path,headers", [
    ("/v1/track", AUTH), ("/v1/batch", AUTH), ("/v1/regulations", ADMIN),
    ("/v1/admin/dead-letters/hook/replay", ADMIN),
])
def test_a_deeply_nested_body_is_a_400(client, path, headers):
    r = client.post(path, data=DEEP, headers={**headers, **JSON})
    assert r.status_code == 400
    assert r.get_json()["errors"][0]["message"] == "body is nested too deeply (the limit is 64 levels per event)"


def test_a_deeply_nested_webhook_body_is_a_400(client):
    r = client.post("/v1/webhook", data=DEEP, headers=signed(DEEP.encode()))
    assert r.status_code == 400


def test_an_event_nested_too_deep_is_rejected_and_the_others_kept(rt, client):
    deep = {"type": "track", "userId": "u1", "event": "Deep", "properties": {}}
    node = deep["properties"]
    for _ in range(80):
        node["a"] = {}
        node = node["a"]
    r = client.post("/v1/batch", json={"batch": [deep, ok(1)]}, headers=AUTH)
    assert r.status_code == 200
    (rejected,) = r.get_json()["rejected"]
    assert rejected["index"] == 0
    assert rejected["errors"][0]["message"] == "nested deeper than 64 levels"
    assert rejected["errors"][0]["path"].startswith("properties.a.a.a")
    assert [e["messageId"] for e in buffered(rt)] == ["ok-1"]


@pytest.mark.parametrize("auth", ["Basic ÿþý", "Basic " + base64.b64encode(b"\xff\xfe:").decode()])
def test_an_authorization_header_that_is_not_utf8_basic_auth_is_a_401(client, auth):
    r = client.post("/v1/track", json=ok(1), headers={"Authorization": auth})
    assert r.status_code == 401
    assert r.get_json()["errors"] == [{"path": "writeKey", "message": "Authorization header is not valid Basic auth"}]


@pytest.mark.parametrize("auth", ["Bearer ÿþý", "Bearer é", "Basic ÿ"])
def test_an_admin_authorization_header_with_odd_bytes_is_a_401(client, auth):
    assert client.get("/v1/admin/destinations", headers={"Authorization": auth}).status_code == 401


@pytest.mark.parametrize("where", [
    '"event":"\\ud800"', '"properties":{"\\udfff":1}', '"properties":{"a":["x\\udc00y"]}', '"userId":"\\ud83d"',
])
def test_a_lone_surrogate_rejects_its_event_only(rt, client, where):
    bad = '{"type":"track","userId":"u9","event":"E",' + where + "}"
    r = client.post("/v1/batch", data=batch_text(bad, json.dumps(ok(1))), headers={**AUTH, **JSON})
    assert r.status_code == 200
    (rejected,) = r.get_json()["rejected"]
    assert rejected["index"] == 0
    assert "lone UTF-16 surrogate" in rejected["errors"][0]["message"]
    assert [e["messageId"] for e in buffered(rt)] == ["ok-1"]
    (kept,) = kept_rejections(rt)  # stored escaped, as it came
    assert kept["errors"] == rejected["errors"]


def test_a_lone_surrogate_in_a_single_call_is_a_400(rt, client):
    r = client.post("/v1/track", data='{"userId":"u1","event":"\\ud800"}', headers={**AUTH, **JSON})
    assert r.status_code == 400
    assert r.get_json()["errors"] == [{"path": "event", "message": "contains a lone UTF-16 surrogate (not valid Unicode)"}]
    assert kept_rejections(rt)[0]["event"]["event"] == "\ud800"


@pytest.mark.parametrize("literal,path", [
    ("NaN", "properties.total"), ("Infinity", "properties.total"), ("-Infinity", "properties.total"),
    ("1e999", "properties.total"), ("[1, -1e400]", "properties.total[1]"), ("9" * 5000, "properties.total"),
])
def test_a_non_finite_number_rejects_its_event_naming_the_field(rt, client, literal, path):
    bad = '{"type":"track","userId":"u9","event":"E","properties":{"total":' + literal + "}}"
    r = client.post("/v1/batch", data=batch_text(json.dumps(ok(1)), bad), headers={**AUTH, **JSON})
    assert r.status_code == 200
    assert r.get_json()["rejected"] == [{"index": 1, "errors": [
        {"path": path, "message": "must be a finite number (NaN, Infinity and numbers beyond 1e308 are not JSON)"}]}]
    assert [e["messageId"] for e in buffered(rt)] == ["ok-1"]
    assert len(kept_rejections(rt)) == 1


def test_a_body_that_is_not_json_at_all_is_still_a_400(client):
    r = client.post("/v1/batch", data=b"NaN? no: {", headers={**AUTH, **JSON})
    assert r.status_code == 400 and r.get_json()["errors"][0]["message"].startswith("body is not valid JSON")


@pytest.mark.parametrize("field,value", [
    ("timestamp", "0001-01-01T00:00:00+01:00"), ("originalTimestamp", "9999-12-31T23:59:59-01:00"),
    ("sentAt", "0001-01-01T00:30:00+00:45"),
])
def test_a_timestamp_beyond_the_date_range_in_utc_is_rejected(rt, client, field, value):
    bad = {**ok(9), field: value}
    body = client.post("/v1/batch", json={"batch": [bad, ok(1)]}, headers=AUTH).get_json()
    assert body["rejected"] == [{"index": 0, "errors": [
        {"path": field, "message": f"outside the years 1-9999 in UTC: {value!r}"}]}]
    assert [e["messageId"] for e in buffered(rt)] == ["ok-1"]


def test_clock_skew_that_cannot_be_corrected_is_rejected(rt, client):
    bad = {**ok(9), "originalTimestamp": "0001-01-01T00:00:00Z", "sentAt": "9999-12-31T00:00:00Z"}
    body = client.post("/v1/batch", json={"batch": [bad, ok(1)]}, headers=AUTH).get_json()
    assert body["rejected"][0]["index"] == 0 and body["rejected"][0]["errors"][0]["path"] == "sentAt"
    assert [e["messageId"] for e in buffered(rt)] == ["ok-1"]


def test_timestamps_at_the_edges_of_the_range_are_kept_with_four_digit_years(rt, client):
    events = [{**ok(1), "timestamp": "0001-01-01T00:00:00Z"}, {**ok(2), "timestamp": "9999-12-31T23:59:59.999Z"},
              {**ok(3), "originalTimestamp": "0999-01-01T00:00:00Z", "sentAt": "0999-01-01T00:00:05Z"}]
    body = client.post("/v1/batch", json={"batch": events}, headers=AUTH).get_json()
    assert (body["accepted"], body["rejected"]) == (3, [])
    stamps = [e["timestamp"] for e in buffered(rt)]
    assert stamps[:2] == ["0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z"]
    assert len(stamps[2]) == 24 and stamps[2][:2] == "20"  # corrected to the receive time, minus 5 s


def test_a_batch_with_one_bad_event_keeps_the_other_2499(rt, client):
    events = [json.dumps(ok(i)) for i in range(2499)]
    events.insert(1234, '{"type":"track","userId":"u","event":"\\ud800","timestamp":"0001-01-01T00:00:00+05:00"}')
    r = client.post("/v1/batch", data=batch_text(*events), headers={**AUTH, **JSON})
    assert r.status_code == 200
    body = r.get_json()
    assert body["accepted"] == 2499 and [x["index"] for x in body["rejected"]] == [1234]
    assert rt.redis.llen(rt.queue.keys.buf("hook")) == 2499
    assert len(kept_rejections(rt)) == 1


@pytest.mark.parametrize("encoding", ["GZIP", "Gzip", " gzip ", "x-gzip"])
def test_the_32_kb_event_limit_holds_whatever_the_case_of_content_encoding(rt, client, encoding):
    big = {"type": "track", "userId": "u", "event": "big", "properties": {"b": "x" * 40_000}}
    data = gzip.compress(json.dumps({"batch": [big, ok(1)]}).encode())
    r = client.post("/v1/batch", data=data, headers={**AUTH, **JSON, "Content-Encoding": encoding})
    assert r.status_code == 200
    body = r.get_json()
    assert body["accepted"] == 1 and body["rejected"][0]["index"] == 0
    assert "the limit is 32768 bytes (32 KB)" in body["rejected"][0]["errors"][0]["message"]


def test_an_oversized_event_in_a_small_webhook_body_is_rejected(rt, client):
    big = json.dumps({"type": "track", "userId": "u", "event": "big", "properties": {"b": "x" * 40_000}}).encode()
    data = gzip.compress(big)
    r = client.post("/v1/webhook", data=data, headers={**signed(data), "Content-Encoding": "GZip"})
    assert r.status_code == 400 and "32 KB" in r.get_json()["errors"][0]["message"]
    assert buffered(rt) == []


@pytest.mark.parametrize("data,encoding,status,message", [
    (gzip.compress(b'{"batch":[]}')[:-12], "gzip", 400, "body is not valid gzip (the stream is truncated)"),
    (b"\x1f\x8b not gzip", "gzip", 400, "body is not valid gzip"),
    (gzip.compress(b'{"batch":[]}') + b"trailing", "gzip", 400, "body is not valid gzip"),
    (gzip.compress(b'{"batch":[]}') + gzip.compress(b"") * 64, "gzip", 400, "body has more than 64 gzip members"),
    (b'{"batch":[]}', "br", 415, "unsupported Content-Encoding 'br'; send gzip or no encoding"),
])
def test_a_body_in_an_encoding_that_cannot_be_read_is_a_4xx(client, data, encoding, status, message):
    r = client.post("/v1/batch", data=data, headers={**AUTH, **JSON, "Content-Encoding": encoding})
    assert (r.status_code, r.get_json()["errors"][0]["message"]) == (status, message)


def test_a_gzip_body_of_several_members_is_read_whole(rt, client):
    """RFC 1952: a gzip file may be several members, one after the other (``cat a.gz b.gz``)."""
    text = json.dumps({"batch": [ok(1), ok(2)]}).encode()
    data = gzip.compress(text[:20]) + gzip.compress(text[20:])
    r = client.post("/v1/batch", data=data, headers={**AUTH, **JSON, "Content-Encoding": "gzip"})
    assert (r.status_code, r.get_json()["accepted"]) == (200, 2)


def test_a_utf8_bom_is_accepted_and_latin1_is_a_400(rt, client):
    body = json.dumps({"batch": [ok(1)]}).encode()
    assert client.post("/v1/batch", data=b"\xef\xbb\xbf" + body, headers={**AUTH, **JSON}).get_json()["accepted"] == 1
    latin = '{"batch":[{"type":"track","userId":"Zoë","event":"E"}]}'.encode("latin-1")
    r = client.post("/v1/batch", data=latin, headers={**AUTH, **JSON})
    assert r.status_code == 400 and r.get_json()["errors"][0]["message"].startswith("body is not valid JSON")


@pytest.mark.parametrize("body", [
    {"since_ms": "soon"}, {"since_ms": [1]}, {"since_ms": -1}, {"since_ms": 2**64}, {"since_ms": 1.5},
    {"entry_ids": "1-0"}, {"entry_ids": [1]}, {"entry_ids": ["../x"]}, {"entry_ids": []}, {"limit": 3},
    [1, 2], "text",
])
def test_a_malformed_replay_body_is_a_400_and_replays_nothing(rt, client, body):
    r = client.post("/v1/admin/dead-letters/hook/replay", json=body, headers=ADMIN)
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.get_json()["success"] is False and r.get_json()["errors"]


@pytest.mark.parametrize("raw", [b"{", b"null", b"NaN", b'{"since_ms": Infinity}', b'{"since_ms": 1e999}', b"\xff\xfe\xfd"])
def test_a_replay_body_that_is_not_json_is_a_400(client, raw):
    r = client.post("/v1/admin/dead-letters/hook/replay", data=raw, headers={**ADMIN, **JSON})
    assert r.status_code == 400


def test_a_replay_without_a_body_replays_everything(client):
    r = client.post("/v1/admin/dead-letters/hook/replay", headers=ADMIN)
    assert (r.status_code, r.get_json()) == (200, {"success": True, "replayed": 0})


@pytest.mark.parametrize("raw,path", [
    (b"{", ""), (b"[]", ""), (b'"x"', ""),
    (b'{"regulationType":"DELETE_ONLY","subjectType":"USER_ID","subjectIds":["\\ud800"]}', "subjectIds[0]"),
    (b'{"regulationType":"DELETE_ONLY","subjectType":"USER_ID","subjectIds":[NaN]}', "subjectIds[0]"),
    (b'{"regulationType":["DELETE_ONLY"],"subjectType":"USER_ID","subjectIds":["u"]}', "regulationType"),
    (b'{"regulationType":"DELETE_ONLY","subjectType":"USER_ID","subjectIds":"u"}', "subjectIds"),
])
def test_a_malformed_regulation_is_a_400_with_the_path(rt, client, raw, path):
    r = client.post("/v1/regulations", data=raw, headers={**ADMIN, **JSON})
    assert r.status_code == 400
    assert r.get_json()["errors"][0]["path"] == path
    assert rt.redis.zcard(rt.queue.keys.regulations) == 0


def test_werkzeug_errors_under_v1_answer_json(client):
    too_big = client.post("/v1/batch", data=b"x" * (1024 * 1024 + 1), headers={**AUTH, **JSON})
    assert too_big.status_code == 413 and too_big.get_json()["success"] is False
    missing = client.get("/v1/no/such/thing")
    assert missing.status_code == 404 and missing.get_json()["errors"][0]["message"]
    wrong_method = client.get("/v1/batch")
    assert wrong_method.status_code == 405 and wrong_method.get_json()["success"] is False
