"""The HTTP Tracking API as Segment's clients use it."""
from __future__ import annotations

import base64
import gzip
import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.helpers import WRITE_KEY

AUTH = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}
HOOK = {"name": "hook", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/hook"}}


@pytest.fixture
def rt(make_runtime):
    return make_runtime(destinations=[HOOK])


@pytest.fixture
def client(rt, client_for):
    return client_for(rt)


def buffered(rt, dest="hook"):
    return [json.loads(x)["e"] for x in rt.redis.lrange(rt.queue.keys.buf(dest), 0, -1)]


@pytest.mark.parametrize("path,kind", [
    ("/v1/identify", "identify"), ("/v1/track", "track"), ("/v1/page", "page"), ("/v1/screen", "screen"),
    ("/v1/group", "group"), ("/v1/alias", "alias"), ("/v1/i", "identify"), ("/v1/t", "track"),
    ("/v1/p", "page"), ("/v1/s", "screen"), ("/v1/g", "group"), ("/v1/a", "alias"),
])
def test_each_call_path_queues_an_event_of_its_type(rt, client, path, kind):
    body = {"userId": "u1", "event": "Clicked", "groupId": "g1", "previousId": "old", "messageId": "m1"}
    r = client.post(path, json=body, headers=AUTH)
    assert (r.status_code, r.get_json()) == (200, {"success": True})
    (event,) = buffered(rt)
    assert event["type"] == kind and event["userId"] == "u1" and event["messageId"] == "m1"


def test_write_key_in_the_body_as_text_plain_is_how_analytics_js_sends(rt, client):
    body = json.dumps({"writeKey": WRITE_KEY, "userId": "u1", "event": "Viewed"})
    r = client.post("/v1/t", data=body, content_type="text/plain")
    assert r.status_code == 200
    (event,) = buffered(rt)
    assert "writeKey" not in event


@pytest.mark.parametrize("headers,body,message", [
    ({}, {"userId": "u1", "event": "x"}, "missing write key: send it as the Basic-auth user name or as writeKey in the body"),
    ({"Authorization": "Basic " + base64.b64encode(b"nope:").decode()}, {"userId": "u1", "event": "x"}, "unknown write key"),
    ({}, {"userId": "u1", "event": "x", "writeKey": "nope"}, "unknown write key"),
])
def test_an_unknown_or_missing_write_key_is_401(client, headers, body, message):
    r = client.post("/v1/track", json=body, headers=headers)
    assert r.status_code == 401
    assert r.get_json() == {"success": False, "errors": [{"path": "writeKey", "message": message}]}


def test_gzip_bodies_are_accepted(rt, client):
    body = gzip.compress(json.dumps({"batch": [{"type": "track", "userId": "u", "event": "e"}]}).encode())
    r = client.post("/v1/batch", data=body, headers={**AUTH, "Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert r.status_code == 200 and r.get_json()["accepted"] == 1


def test_an_invalid_single_call_is_400_with_the_field_path_and_is_kept_for_the_operator(rt, client):
    r = client.post("/v1/track", json={"userId": "u1", "properties": "nope"}, headers=AUTH)
    assert r.status_code == 400
    errors = r.get_json()["errors"]
    assert {"path": "properties", "message": "Not a valid mapping type."} in errors
    ((_, fields),) = rt.redis.xrange(rt.queue.keys.rejected)
    kept = json.loads(fields[b"d"])
    assert kept["event"]["properties"] == "nope" and kept["source"] == "website"


def test_a_track_without_an_event_name_says_so(client):
    r = client.post("/v1/track", json={"userId": "u1"}, headers=AUTH)
    assert r.get_json()["errors"] == [{"path": "event", "message": "a track call needs an event name"}]


def test_an_event_needs_a_user_id_or_an_anonymous_id(client):
    r = client.post("/v1/identify", json={"traits": {}}, headers=AUTH)
    assert r.get_json()["errors"] == [{"path": "userId", "message": "either userId or anonymousId is required"}]


def test_a_batch_accepts_the_valid_events_and_reports_the_invalid_ones(rt, client):
    batch = [
        {"type": "track", "userId": "u1", "event": "ok"},
        {"type": "track", "userId": "u2"},
        {"type": "bogus", "userId": "u3"},
        "not an object",
        {"type": "identify", "anonymousId": "a4", "traits": {"email": "x@example.com"}},
    ]
    r = client.post("/v1/batch", json={"batch": batch}, headers=AUTH)
    assert r.status_code == 200
    body = r.get_json()
    assert body["accepted"] == 2
    assert body["rejected"] == [
        {"index": 1, "errors": [{"path": "event", "message": "a track call needs an event name"}]},
        {"index": 2, "errors": [{"path": "type", "message": "Must be one of: alias, delete, group, identify, page, screen, track."}]},
        {"index": 3, "errors": [{"path": "", "message": "each event must be a JSON object"}]},
    ]
    assert [e["userId"] if "userId" in e else e["anonymousId"] for e in buffered(rt)] == ["u1", "a4"]
    assert rt.redis.xlen(rt.queue.keys.rejected) == 3


def test_the_size_limits_answer_with_a_reason(client):
    big = {"userId": "u1", "event": "x", "properties": {"blob": "x" * 33_000}}
    r = client.post("/v1/track", json=big, headers=AUTH)
    assert r.status_code == 413 and "32 KB" in r.get_json()["errors"][0]["message"]

    r = client.post("/v1/batch", json={"batch": [{"type": "track", "userId": "u", "event": "e"}] * 2501}, headers=AUTH)
    assert r.status_code == 400
    assert r.get_json()["errors"] == [{"path": "batch", "message": "batch has 2501 events; the limit is 2500"}]

    r = client.post("/v1/batch", json={"batch": [big["properties"]] * 17}, headers=AUTH)
    assert r.status_code == 413 and "500 KB" in r.get_json()["errors"][0]["message"]


def test_an_oversized_event_in_a_batch_rejects_only_that_event(rt, client):
    batch = [{"type": "track", "userId": "u", "event": "big", "properties": {"b": "x" * 40_000}},
             {"type": "track", "userId": "u", "event": "small"}]
    body = client.post("/v1/batch", json={"batch": batch}, headers=AUTH).get_json()
    assert body["accepted"] == 1
    assert body["rejected"][0]["index"] == 0 and "32 KB" in body["rejected"][0]["errors"][0]["message"]


def test_an_event_over_32_kb_as_json_is_rejected_in_a_small_batch_as_when_sent_alone(rt, client):
    """The limit is on the event's JSON (compact, as stored), which can be longer than the body that
    carried it: ``9e15`` is written back as ``9000000000000000.0``. An 11 KB body holds a 34 KB event."""
    event = json.dumps({"type": "track", "userId": "u", "event": "floats", "properties": {"n": [9e15] * 1800}})
    event = event.replace("9000000000000000.0", "9e15")
    assert len(event) < 11 * 1024
    headers = {**AUTH, "Content-Type": "application/json"}
    alone = client.post("/v1/track", data=event, headers=headers)
    assert alone.status_code == 413 and "32 KB" in alone.get_json()["errors"][0]["message"]
    answer = client.post("/v1/batch", data=f'{{"batch": [{event}]}}', headers=headers).get_json()
    assert answer["accepted"] == 0 and "32 KB" in answer["rejected"][0]["errors"][0]["message"]
    assert buffered(rt) == []


def test_bad_json_is_400(client):
    r = client.post("/v1/batch", data="{nope", headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.get_json()["errors"][0]["message"].startswith("body is not valid JSON")


def test_enrichment_adds_received_at_a_message_id_and_a_clock_skew_corrected_timestamp(rt, client):
    now = datetime.now(timezone.utc)
    # the device clock is 1 hour fast: it says it sent at now+1h an event from now+1h-10s
    sent = now + timedelta(hours=1)
    event = {"type": "track", "userId": "u", "event": "e", "originalTimestamp": (sent - timedelta(seconds=10)).isoformat()}
    client.post("/v1/batch", json={"batch": [event], "sentAt": sent.isoformat()}, headers=AUTH)
    (queued,) = buffered(rt)
    received = datetime.fromisoformat(queued["receivedAt"])
    corrected = datetime.fromisoformat(queued["timestamp"])
    assert abs((received - now).total_seconds()) < 5
    assert abs((received - corrected).total_seconds() - 10) < 0.01
    assert queued["messageId"].startswith("er-")


def test_an_explicit_timestamp_is_kept(rt, client):
    client.post("/v1/track", json={"userId": "u", "event": "e", "timestamp": "2024-01-02T03:04:05Z"}, headers=AUTH)
    assert buffered(rt)[0]["timestamp"] == "2024-01-02T03:04:05.000Z"


def test_batch_level_context_and_integrations_merge_into_each_event(rt, client):
    batch = [{"type": "track", "userId": "u", "event": "e", "context": {"ip": "1.2.3.4"}},
             {"type": "track", "userId": "u", "event": "f", "integrations": {"hook": True}}]
    client.post("/v1/batch", json={"batch": batch, "context": {"library": {"name": "x"}, "ip": "9.9.9.9"},
                                   "integrations": {"All": True, "hook": False}}, headers=AUTH)
    # the first event is not routed to 'hook' (batch integrations say false); the second overrides it
    (only,) = buffered(rt)
    assert only["event"] == "f" and only["context"] == {"library": {"name": "x"}, "ip": "9.9.9.9"}
    assert only["integrations"] == {"All": True, "hook": True}


def test_a_message_id_seen_in_the_last_24_hours_is_accepted_once(rt, client):
    event = {"type": "track", "userId": "u", "event": "e", "messageId": "same"}
    first = client.post("/v1/batch", json={"batch": [event, event]}, headers=AUTH).get_json()
    again = client.post("/v1/batch", json={"batch": [event]}, headers=AUTH).get_json()
    assert (first["accepted"], first["duplicates"], again["accepted"], again["duplicates"]) == (1, 1, 0, 1)
    assert len(buffered(rt)) == 1


def test_cors_preflight_and_answers_allow_browsers(client):
    r = client.options("/v1/t", headers={"Origin": "http://shop.example", "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == "http://shop.example"
    assert "Content-Type" in r.headers["Access-Control-Allow-Headers"]
    r = client.post("/v1/t", json={"writeKey": WRITE_KEY, "userId": "u", "event": "e"}, headers={"Origin": "http://shop.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "http://shop.example"


def test_numeric_user_ids_are_taken_as_strings(rt, client):
    client.post("/v1/identify", json={"userId": 42, "traits": {}}, headers=AUTH)
    assert buffered(rt)[0]["userId"] == "42"


def test_health_reports_redis_and_workers(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json()["redis"] == "ok" and r.get_json()["workers"] == 0


def test_redis_unavailable_is_a_503_so_clients_retry(tmp_path, client_for):
    from router.config import parse_config
    from router.redis_server import EmbeddedRedis, connect
    from router.runtime import Runtime
    from tests.helpers import base_config

    server = EmbeddedRedis(tmp_path)
    server.start()
    rt = Runtime(parse_config(base_config(destinations=[HOOK])), connect(server.url))
    client = client_for(rt)
    assert client.post("/v1/track", json={"userId": "u", "event": "e"}, headers=AUTH).status_code == 200
    server.stop()
    r = client.post("/v1/track", json={"userId": "u", "event": "e"}, headers=AUTH)
    assert r.status_code == 503 and r.headers["Retry-After"] == "2"
    assert r.get_json() == {"success": False, "errors": [{"path": "", "message": "storage unavailable; retry later"}]}


def test_an_empty_user_id_beside_an_anonymous_id_is_an_anonymous_event_as_segment_takes_it(rt, client):
    # analytics-python sends user_id="" as "userId": "" (it only checks user_id or anonymous_id)
    r = client.post("/v1/track", json={"userId": "", "anonymousId": "a1", "event": "e"}, headers=AUTH)
    assert r.status_code == 200
    (queued,) = buffered(rt)
    assert queued["anonymousId"] == "a1" and not queued.get("userId")
    r = client.post("/v1/track", json={"userId": "", "event": "e"}, headers=AUTH)
    assert r.get_json()["errors"] == [{"path": "userId", "message": "either userId or anonymousId is required"}]


def test_a_page_or_identify_with_a_null_event_field_is_accepted_as_rudderstacks_browser_sdk_sends_it(rt, client):
    # rudder-sdk-js builds every message with "event": null; only a track needs an event name
    for path, body in [("/v1/page", {"anonymousId": "a", "name": "Home", "event": None}),
                       ("/v1/identify", {"userId": "u", "traits": {}, "event": None})]:
        assert client.post(path, json=body, headers=AUTH).status_code == 200, path
    assert [e["type"] for e in buffered(rt)] == ["page", "identify"]
    r = client.post("/v1/track", json={"userId": "u", "event": None}, headers=AUTH)
    assert r.get_json()["errors"] == [{"path": "event", "message": "a track call needs an event name"}]


def test_a_public_write_key_cannot_delete_a_user_unless_its_source_accepts_delete_calls(make_runtime, client_for):
    """A browser's write key is in every page: with it alone nobody may erase a user everywhere."""
    rt = make_runtime(destinations=[HOOK], sources=[{"name": "website", "write_keys": [WRITE_KEY]}])
    client = client_for(rt)
    client.post("/v1/track", json={"userId": "victim", "event": "Bought", "messageId": "m1"}, headers=AUTH)
    delete = {"type": "delete", "userId": "victim", "messageId": "del-1"}
    r = client.post("/v1/batch", json={"batch": [delete]}, headers=AUTH)
    reason = ("delete calls are not accepted with this source's write key (a browser's key is public): "
              "send them as POST /v1/regulations, or set accept_delete_calls: true on a server-side source")
    assert (r.status_code, r.get_json()) == (200, {"success": True, "accepted": 0, "duplicates": 0, "suppressed": 0,
                                                  "rejected": [{"index": 0, "errors": [{"path": "", "message": reason}]}]})
    assert [(e["type"], e["userId"]) for e in buffered(rt)] == [("track", "victim")]  # not forgotten
    assert rt.redis.zcard(rt.queue.keys.regulations) == 0
    kept = [json.loads(f[b"d"]) for _, f in rt.redis.xrange(rt.queue.keys.rejected)]
    assert [(k["event"], k["errors"][0]["message"]) for k in kept] == [(delete, reason)]


def test_a_source_that_accepts_delete_calls_forgets_the_user_a_batch_deletes(make_runtime, client_for):
    sources = [{"name": "backend", "write_keys": [WRITE_KEY], "accept_delete_calls": True}]
    rt = make_runtime(destinations=[HOOK], sources=sources)
    client = client_for(rt)
    client.post("/v1/track", json={"userId": "gone", "event": "Bought", "messageId": "m1"}, headers=AUTH)
    r = client.post("/v1/batch", json={"batch": [{"type": "delete", "userId": "gone", "messageId": "del-1"}]}, headers=AUTH)
    assert r.get_json()["accepted"] == 1
    assert [(e["type"], e["userId"]) for e in buffered(rt)] == [("delete", "gone")]
