"""Secrets never reach storage: not in buffers, dead letters, the rejections stream or the admin API."""
from __future__ import annotations

import json

from tests.fakes.http import FakeServer, Reply
from tests.helpers import WRITE_KEY, webhook_destination, work

AUTH = {"Authorization": "Basic dGVzdC13cml0ZS1rZXk6"}  # base64("test-write-key:")
ADMIN = {"Authorization": "Bearer admin-secret-token"}
HEADER_TOKEN = "Bearer hdr-token-5678"
OTHER_KEY = "second-source-key"
SOURCES = [
    {"name": "website", "write_keys": [WRITE_KEY]},
    {"name": "app", "write_keys": [OTHER_KEY]},
    {"name": "segment", "webhook_secret": "whsec-test"},
]
#: every configured secret value of the runtimes below
SECRETS = [WRITE_KEY, OTHER_KEY, "whsec-test", "admin-secret-token", "hook-secret-1234", HEADER_TOKEN]


def stored_text(rt) -> str:
    """Everything the router keeps in Redis under its namespace, as text."""
    out = []
    for key in rt.redis.scan_iter(f"{rt.config.namespace}:*"):
        kind = rt.redis.type(key).decode()
        if kind == "list":
            out += [x.decode() for x in rt.redis.lrange(key, 0, -1)]
        elif kind == "stream":
            out += [v.decode() for _, f in rt.redis.xrange(key) for v in f.values()]
        elif kind == "zset":
            out += [x.decode() for x in rt.redis.zrange(key, 0, -1)]
        elif kind == "hash":
            out += [v.decode() for v in rt.redis.hgetall(key).values()]
        elif kind == "string":
            out.append(rt.redis.get(key).decode())
    return "\n".join(out)


def test_a_webhook_header_echoed_by_the_vendor_never_reaches_dead_letters_or_the_admin_api(make_runtime, client_for):
    def echo(req):
        return Reply(400, {"error": "unknown tenant", "you_sent": req.headers.get("Authorization")})

    with FakeServer(echo) as hook:
        dest = webhook_destination(hook.base_url, settings={"headers": {"Authorization": HEADER_TOKEN}})
        rt = make_runtime(destinations=[dest])
        client = client_for(rt)
        assert client.post("/v1/batch", json={"batch": [{"type": "identify", "userId": "u1"}]}, headers=AUTH).status_code == 200
        work(rt)
        assert hook.requests[0].headers["Authorization"] == HEADER_TOKEN  # the vendor did get it
        ((_, dead),) = rt.queue.dead_letters("hook")
        assert json.loads(dead["response"]) == {"error": "unknown tenant", "you_sent": "[redacted]"}
        assert "hdr-token-5678" not in stored_text(rt)
        shown = client.get("/v1/admin/dead-letters/hook", headers=ADMIN)
        assert shown.status_code == 200 and "hdr-token-5678" not in shown.get_data(as_text=True)


def test_a_secret_the_vendor_echoes_with_json_escaped_slashes_is_redacted_too(make_runtime, client_for):
    token = "Bearer ab/cd+ef=="  # a base64 key has slashes; PHP's json_encode writes each as \/

    def echo(req):
        sent = json.dumps(req.headers["Authorization"]).replace("/", "\\/")
        return Reply(401, '{"error":"bad token","you_sent":' + sent + "}", headers={"Content-Type": "application/json"})

    with FakeServer(echo) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, settings={"headers": {"Authorization": token}})])
        client = client_for(rt)
        assert client.post("/v1/batch", json={"batch": [{"type": "identify", "userId": "u1"}]}, headers=AUTH).status_code == 200
        work(rt)
        ((entry_id, dead),) = rt.queue.dead_letters("hook")
        assert dead["response"] == '{"error":"bad token","you_sent":"[redacted]"}'
        assert "ab\\/cd" not in stored_text(rt)
        shown = client.get(f"/v1/admin/dead-letters/hook/{entry_id}", headers=ADMIN).get_json()
        assert shown["response"]["body"] == '{"error":"bad token","you_sent":"[redacted]"}'
        assert shown["requests"][0]["response"]["body"] == '{"error":"bad token","you_sent":"[redacted]"}'


def test_write_keys_inside_batch_members_are_neither_forwarded_nor_stored(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(sources=SOURCES, destinations=[webhook_destination(hook.base_url)])
        batch = [
            {"type": "track", "userId": "u1", "event": "Paid", "writeKey": WRITE_KEY},
            {"type": "track", "userId": "u2", "writeKey": OTHER_KEY},  # no event name: rejected
        ]
        r = client_for(rt).post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": batch})
        assert r.status_code == 200 and r.get_json()["accepted"] == 1
        ((_, fields),) = rt.redis.xrange(rt.queue.keys.rejected)
        kept = json.loads(fields[b"d"])
        assert kept["event"] == {"type": "track", "userId": "u2"}
        text = stored_text(rt)
        assert WRITE_KEY not in text and OTHER_KEY not in text and "writeKey" not in text
        work(rt)
        (req,) = hook.requests
        assert "writeKey" not in req.json() and WRITE_KEY.encode() not in req.body


def test_every_configured_secret_in_a_rejected_event_is_redacted(make_runtime, client_for):
    dest = webhook_destination("http://127.0.0.1:9/hook", settings={"headers": {"Authorization": HEADER_TOKEN}})
    rt = make_runtime(sources=SOURCES, destinations=[dest])
    client = client_for(rt)
    leaked = {f"s{i}": f"x {s} y" for i, s in enumerate(SECRETS)}
    r = client.post("/v1/batch", json={"batch": [{"type": "track", "userId": "u1", "properties": leaked}]}, headers=AUTH)
    assert r.status_code == 200 and r.get_json()["rejected"][0]["index"] == 0
    ((_, fields),) = rt.redis.xrange(rt.queue.keys.rejected)
    kept = json.loads(fields[b"d"])
    assert kept["event"]["properties"] == {f"s{i}": "x [redacted] y" for i in range(len(SECRETS))}
    shown = client.get("/v1/admin/rejected", headers=ADMIN).get_data(as_text=True)
    assert not [s for s in SECRETS if s in shown]
    assert not [s for s in SECRETS if s in stored_text(rt)]


def test_every_configured_secret_is_redacted_from_dead_letters(make_runtime, client_for):
    def echo(req):
        return Reply(422, {"rejected": req.json()})

    with FakeServer(echo) as hook:
        rt = make_runtime(sources=SOURCES, destinations=[webhook_destination(hook.base_url)])
        client = client_for(rt)
        event = {"type": "identify", "userId": "u1", "traits": {"note": f"{OTHER_KEY} and admin-secret-token"}}
        assert client.post("/v1/batch", json={"batch": [event]}, headers=AUTH).get_json()["accepted"] == 1
        work(rt)
        ((_, dead),) = rt.queue.dead_letters("hook")
        assert dead["event"]["traits"] == {"note": "[redacted] and [redacted]"}
        assert json.loads(dead["response"])["rejected"]["traits"] == {"note": "[redacted] and [redacted]"}
        dead_text = "\n".join(v.decode() for _, f in rt.redis.xrange(rt.queue.keys.dead("hook")) for v in f.values())
        assert OTHER_KEY not in dead_text and "admin-secret-token" not in dead_text


def test_the_bare_token_and_basic_pair_of_a_secret_header_are_secrets_too(make_runtime):
    dest = webhook_destination("http://127.0.0.1:9/hook", settings={"headers": {
        "Authorization": "Bearer hdr-secret-value", "X-Proxy-Auth": "Basic dXNlcjpwcm94eS1wYXNz"}})  # user:proxy-pass
    rt = make_runtime(destinations=[dest])
    assert rt.config.destination("hook").secrets == [  # each also URL-encoded, as a stored URL may hold it
        "hook-secret-1234", "Bearer hdr-secret-value", "Bearer%20hdr-secret-value", "Bearer+hdr-secret-value",
        "hdr-secret-value", "Basic dXNlcjpwcm94eS1wYXNz", "Basic%20dXNlcjpwcm94eS1wYXNz", "Basic+dXNlcjpwcm94eS1wYXNz",
        "dXNlcjpwcm94eS1wYXNz", "user:proxy-pass", "user%3Aproxy-pass", "proxy-pass"]
    assert rt.redactor.text("vendor said: hdr-secret-value / proxy-pass") == "vendor said: [redacted] / [redacted]"


def test_a_rejected_event_holding_a_bare_header_token_is_shown_redacted(make_runtime, client_for):
    dest = webhook_destination("http://127.0.0.1:9/hook", settings={"headers": {"Authorization": "Bearer hdr-secret-value"}})
    rt = make_runtime(destinations=[dest])
    client = client_for(rt)
    event = {"type": "track", "userId": "u1", "properties": {"pasted": "hdr-secret-value"}}  # no event name: rejected
    assert client.post("/v1/track", json=event, headers=AUTH).status_code == 400
    assert "hdr-secret-value" not in stored_text(rt)
    (shown,) = client.get("/v1/admin/rejected", headers=ADMIN).get_json()["rejected"]
    assert shown["event"]["properties"] == {"pasted": "[redacted]"}


#: a header value of digits is a secret like any other (every webhook header value is one)
TENANT = "4321"
NUMBERS = {"qty": 7643219, "code": 4321, "price": 1.4321, "note": "order 4321"}
NUMBERS_STORED = {"qty": 7643219, "code": "[redacted]", "price": 1.4321, "note": "order [redacted]"}


def test_a_secret_of_digits_leaves_stored_records_valid_json_redacting_the_number_that_is_it(make_runtime, client_for):
    """Redacting stored JSON as text made ``76[redacted]9`` of a number that only holds the digits:
    the record no longer parsed, and the dead letter could be neither shown nor replayed."""
    with FakeServer(lambda req: Reply(400, {"error": "bad tenant"})) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, settings={"headers": {"X-Tenant": TENANT}})])
        client = client_for(rt)
        event = {"type": "track", "userId": "u1", "event": "Bought", "properties": NUMBERS}
        assert client.post("/v1/batch", json={"batch": [event, {**event, "event": ""}]}, headers=AUTH).status_code == 200
        work(rt)
        ((_, dead),) = rt.queue.dead_letters("hook")
        assert dead["event"]["properties"] == NUMBERS_STORED
        shown = client.get("/v1/admin/dead-letters/hook", headers=ADMIN)
        assert shown.get_json()["dead_letters"][0]["event"]["properties"] == NUMBERS_STORED
        (rejected,) = client.get("/v1/admin/rejected", headers=ADMIN).get_json()["rejected"]
        assert rejected["event"]["properties"] == NUMBERS_STORED
        assert client.post("/v1/admin/dead-letters/hook/replay", headers=ADMIN).status_code == 200


def test_the_event_tester_shows_a_number_holding_a_secrets_digits(make_runtime, client_for):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/hook", settings={"headers": {"X-Tenant": TENANT}})])
    client = client_for(rt)
    event = {"type": "track", "userId": "u1", "event": "Bought", "properties": NUMBERS}
    answer = client.post("/v1/admin/test/hook", json=event, headers=ADMIN)
    assert answer.status_code == 200
    assert answer.get_json()["event"]["properties"] == NUMBERS_STORED


def test_metrics_stay_prometheus_text_when_a_count_holds_a_secrets_digits(make_runtime, client_for):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/hook", settings={"headers": {"X-Tenant": "1234"}})])
    client = client_for(rt)
    batch = [{"type": "track", "userId": f"u{i}", "event": "Bought"} for i in range(1234)]
    for k in range(0, len(batch), 500):
        assert client.post("/v1/batch", json={"batch": batch[k:k + 500]}, headers=AUTH).status_code == 200
    text = client.get("/metrics", headers=ADMIN).get_data(as_text=True)
    assert "[redacted]" not in text
    assert any(line.endswith(" 1234.0") or line.endswith(" 1234") for line in text.splitlines())
