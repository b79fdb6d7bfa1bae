"""The no-code ``http`` destination, from ingest to a fake vendor over real HTTP: exact requests and outcomes."""
from __future__ import annotations

import base64
import json

import pytest

from destinations.base import Prepared
from destinations.errors import RejectedEvent
from router.config import parse_config
from router.errors import ConfigError
from tests.fakes.http import FakeServer, Reply
from tests.helpers import base_config, work

AUTH = {"Authorization": "Basic dGVzdC13cml0ZS1rZXk6"}  # base64("test-write-key:")
SITE_ID, API_KEY = "site-1", "cio-api-key-123"
TS = "2026-11-23T10:00:00.000Z"
TS_UNIX = 1795428000

# Customer.io's Track API v1 shape (publicly documented): Basic auth site_id:api_key,
# PUT /customers/{id} with attributes, POST /customers/{id}/events, DELETE /customers/{id}.
CUSTOMERIO = {
    "base_url": "{vendor}/api/v1",
    "auth": "basic", "username": SITE_ID, "password": API_KEY,
    "requests": [
        {"type": "identify", "method": "PUT", "url": "/customers/{{userId}}",
         "body": {"email": ["traits.email", "context.traits.email"],
                  "created_at": {"from": ["traits.createdAt", "timestamp"], "type": "unix_seconds"},
                  "first_name": ["traits.firstName", "traits.first_name"],
                  "plan": "traits.plan"}},
        {"type": "track", "url": "/customers/{{userId}}/events",
         "body": {"name": "event", "data": "properties", "timestamp": {"from": "timestamp", "type": "unix_seconds"}}},
        {"type": "delete", "method": "DELETE", "url": "/customers/{{userId}}", "statuses": {"done": ["2xx", 404]}},
    ],
}


def customerio(req):
    expected = "Basic " + base64.b64encode(f"{SITE_ID}:{API_KEY}".encode()).decode()
    if req.headers.get("Authorization") != expected:
        return Reply(401, {"meta": {"error": "Unauthorized request"}})
    if req.method == "DELETE":
        return Reply(404, {"meta": {"error": "not found"}})
    if not req.path.startswith("/api/v1/customers/"):
        return Reply(404, "")
    return Reply(200, {})


def http_destination(settings, vendor, name="api", **extra):
    settings = json.loads(json.dumps(settings).replace("{vendor}", vendor))
    return {"name": name, "type": "http", "settings": settings, **extra}


def send(client, events):
    r = client.post("/v1/batch", json={"batch": events}, headers=AUTH)
    assert r.status_code == 200 and r.get_json()["accepted"] == len(events), r.get_json()


def test_a_recreated_customerio_gets_the_documented_requests(make_runtime, client_for):
    with FakeServer(customerio) as vendor:
        rt = make_runtime(destinations=[http_destination(CUSTOMERIO, vendor.base_url)])
        send(client_for(rt), [
            {"type": "identify", "userId": "u 1", "messageId": "m1", "timestamp": TS,
             "traits": {"email": "ada@example.com", "firstName": "Ada", "plan": None}},
            {"type": "track", "userId": "u 1", "event": "Order Completed", "messageId": "m2", "timestamp": TS,
             "properties": {"order_id": "o-1", "revenue": 19.99}},
            {"type": "page", "userId": "u 1", "name": "Home", "messageId": "m3"},
            {"type": "delete", "userId": "u2", "messageId": "m4"},
        ])
        work(rt)
        assert [(r.method, r.path) for r in vendor.requests] == [
            ("PUT", "/api/v1/customers/u%201"), ("POST", "/api/v1/customers/u%201/events"),
            ("DELETE", "/api/v1/customers/u2")]
        put, post, delete = vendor.requests
        assert put.body == b'{"email":"ada@example.com","created_at":1795428000,"first_name":"Ada"}'
        assert put.headers["Content-Type"] == "application/json"
        assert post.json() == {"name": "Order Completed", "data": {"order_id": "o-1", "revenue": 19.99},
                               "timestamp": TS_UNIX}
        assert delete.body == b""
        depth = rt.queue.depth("api")
        # the page has no request: not routed at all (http handles only the described types)
        assert (depth["delivered"], depth.get("skipped", 0), depth["dead_letters"]) == (3, 0, 0)


def test_a_recreated_batching_webhook_posts_arrays_of_at_most_max(make_runtime, client_for):
    settings = {"base_url": "{vendor}", "requests": [
        {"type": "track", "url": "/hook", "body": "event", "batch": {"max": 10}}]}
    with FakeServer() as vendor:
        rt = make_runtime(destinations=[http_destination(settings, vendor.base_url, batch_size=100)])
        send(client_for(rt), [{"type": "track", "userId": "u", "event": "E", "messageId": f"m{i}"} for i in range(25)])
        work(rt)
        assert [len(r.json()) for r in vendor.requests] == [10, 10, 5]
        first = vendor.requests[0].json()[0]
        assert (first["messageId"], first["event"], first["type"]) == ("m0", "E", "track")
        assert rt.queue.depth("api")["delivered"] == 25


def test_a_wrapped_batch_groups_by_url_and_converts_types(make_runtime, client_for):
    settings = {"base_url": "{vendor}", "auth": "bearer", "token": "tok-12345", "requests": [
        {"type": "track", "event": ["Order Completed", "Order Refunded"], "url": "/shops/{{properties.shop}}/orders",
         "batch": {"max": 50, "wrap": "orders"},
         "body": {"id": {"from": "properties.order_id", "required": True},
                  "kind": {"template": "{{event}} by {{userId}}"},
                  "amount_cents": {"from": ["properties.total", "properties.revenue"], "type": "cents"},
                  "quantity": {"from": "properties.quantity", "type": "integer", "default": 1},
                  "customer.id": {"from": "userId", "type": "string"},
                  "customer.vip": {"from": "properties.vip", "type": "boolean"},
                  "at": {"from": "timestamp", "type": "iso_time"},
                  "source": {"value": "eventrouter"}, "version": 2}},
        {"type": "track", "url": "/events", "body": {"name": "event"}}]}
    with FakeServer() as vendor:
        rt = make_runtime(destinations=[http_destination(settings, vendor.base_url)])
        order = {"type": "track", "event": "Order Completed", "timestamp": "2026-11-23T12:00:00+02:00"}
        send(client_for(rt), [
            {**order, "userId": 7, "messageId": "m1", "properties": {"shop": "a/b", "order_id": "o1", "total": "10.005", "vip": "true"}},
            {**order, "userId": "u2", "messageId": "m2", "event": "Signed Up"},
            {**order, "userId": "u3", "messageId": "m3", "event": "Order Refunded",
             "properties": {"shop": "a/b", "order_id": "o3", "revenue": 1.1, "quantity": 3}},
            {**order, "userId": "u4", "messageId": "m4", "properties": {"shop": "c", "order_id": "o4"}},
        ])
        work(rt)
        by_path = {r.path: r for r in vendor.requests}
        assert sorted(by_path) == ["/events", "/shops/a%2Fb/orders", "/shops/c/orders"]
        assert all(r.headers["Authorization"] == "Bearer tok-12345" for r in vendor.requests)
        common = {"at": "2026-11-23T10:00:00.000Z", "source": "eventrouter", "version": 2}
        assert by_path["/shops/a%2Fb/orders"].json() == {"orders": [
            {"id": "o1", "kind": "Order Completed by 7", "amount_cents": 1001, "quantity": 1,
             "customer": {"id": "7", "vip": True}, **common},
            {"id": "o3", "kind": "Order Refunded by u3", "amount_cents": 110, "quantity": 3,
             "customer": {"id": "u3"}, **common}]}
        assert by_path["/shops/c/orders"].json() == {"orders": [
            {"id": "o4", "kind": "Order Completed by u4", "quantity": 1, "customer": {"id": "u4"}, **common}]}
        assert by_path["/events"].json() == {"name": "Signed Up"}


def test_a_mapping_that_cannot_be_done_is_a_dead_letter_naming_the_field(make_runtime, client_for):
    settings = {"base_url": "{vendor}", "requests": [
        {"type": "track", "url": "/e/{{properties.id}}",
         "body": {"id": {"from": "properties.order_id", "required": True},
                  "amount": {"from": "properties.total", "type": "number"}}}]}
    with FakeServer() as vendor:
        rt = make_runtime(destinations=[http_destination(settings, vendor.base_url)])
        base = {"type": "track", "userId": "u", "event": "E"}
        send(client_for(rt), [
            {**base, "messageId": "m1", "properties": {"id": 1}},
            {**base, "messageId": "m2", "properties": {"id": 2, "order_id": "o", "total": "lots"}},
            {**base, "messageId": "m3", "properties": {"order_id": "o"}},
            {**base, "messageId": "m4", "properties": {"id": 4, "order_id": "o4", "total": "12.50"}},
        ])
        work(rt)
        assert [r.json() for r in vendor.requests] == [{"id": "o4", "amount": 12.5}]
        reasons = {d["event"]["messageId"]: d["reason"] for _, d in rt.queue.dead_letters("api")}
        assert reasons == {
            "m1": "requests[0].body.id: no value (looked at properties.order_id)",
            "m2": "requests[0].body.amount: 'lots' (from properties.total) is not a number",
            "m3": "requests[0].url: no value for properties.id",
        }


@pytest.mark.parametrize("status,outcome", [(201, "delivered"), (409, "delivered"), (400, "rejected"),
                                            (503, "rejected"), (422, "retry"), (500, "retry")])
def test_the_description_decides_what_a_status_means(make_runtime, client_for, status, outcome):
    settings = {"base_url": "{vendor}", "statuses": {"done": ["2xx", 409], "retry": ["500-502", 422]},
                "requests": [{"type": "track", "url": "/e", "body": {"n": "event"}}]}
    with FakeServer(lambda req: Reply(status, {"error": "x"})) as vendor:
        rt = make_runtime(destinations=[http_destination(settings, vendor.base_url)])
        send(client_for(rt), [{"type": "track", "userId": "u", "event": "E", "messageId": "m1"}])
        work(rt)
        depth = rt.queue.depth("api")
        got = "delivered" if depth.get("delivered") else "rejected" if depth["dead_letters"] else \
            "retry" if depth["retrying"] else "?"
        assert got == outcome
        if outcome == "rejected":
            ((_, dead),) = rt.queue.dead_letters("api")
            assert (dead["reason"], dead["status"], dead["response"]) == (
                f"http destination answered {status}", status, '{"error": "x"}')


def test_header_and_query_auth_put_the_token_where_asked_and_never_in_a_dead_letter(make_runtime, client_for):
    requests = [{"type": "track", "url": "/e?v=1", "headers": {"Idempotency-Key": "{{messageId}}"},
                 "query": {"user": "userId"}, "body": {"n": "event"}}]
    with FakeServer(lambda req: Reply(400, {"echo": req.headers.get("X-Api-Key") or req.query["api_key"][0]})) as vendor:
        rt = make_runtime(destinations=[
            http_destination({"base_url": "{vendor}", "auth": "header", "auth_param": "X-Api-Key", "token": "hdr-secret-1",
                              "requests": requests}, vendor.base_url, name="a"),
            http_destination({"base_url": "{vendor}", "auth": "query", "auth_param": "api_key", "token": "qry-secret-2",
                              "requests": requests}, vendor.base_url, name="b")])
        send(client_for(rt), [{"type": "track", "userId": "u1", "event": "E", "messageId": "m1"}])
        work(rt)
        a, b = sorted(vendor.requests, key=lambda r: "api_key" in r.query)
        assert (a.headers["X-Api-Key"], a.query) == ("hdr-secret-1", {"v": ["1"], "user": ["u1"]})
        assert "X-Api-Key" not in b.headers and b.query == {"v": ["1"], "user": ["u1"], "api_key": ["qry-secret-2"]}
        assert a.headers["Idempotency-Key"] == b.headers["Idempotency-Key"] == "m1"
        dead = json.dumps([d for n in ("a", "b") for _, d in rt.queue.dead_letters(n)])
        # each of the two dead letters shows the echo twice: the response excerpt and the stored exchange
        assert dead.count('{\\"echo\\": \\"[redacted]\\"}') == 4
        assert "hdr-secret-1" not in dead and "qry-secret-2" not in dead


def test_a_specific_event_request_wins_over_the_general_one_and_types_without_one_are_not_routed():
    cfg = parse_config(base_config(destinations=[http_destination({"base_url": "{vendor}", "requests": [
        {"type": "track", "url": "/all"}, {"type": "track", "event": "Order Completed", "url": "/orders"}]},
        "http://127.0.0.1:9")]))
    dc = cfg.destination("api")
    assert dc.handles == dc.subscribe == frozenset({"track"})
    plugin = dc.plugin(dc.settings)
    assert plugin.map({"type": "track", "event": "Order Completed"}).url == "/orders"
    assert plugin.map({"type": "track", "event": "Other"}).url == "/all"


def test_every_mistake_in_a_description_is_a_config_error_with_its_key_path():
    settings = {"base_url": "http://127.0.0.1:9", "auth": "bearer", "statuses": {"retry": ["5xx", 600]}, "requests": [
        {"type": "track", "url": "/e/{{userId}", "body": {"amount": {"from": "properties.total", "type": "cent"}}},
        {"type": "identify", "method": "FETCH", "url": "/c", "batch": {"max": 1000, "wrap": ""}, "bodyy": {}},
        {"type": "page", "event": "x", "body": {"a": "not a path!", "b.c": "userId", "b": "userId"}},
    ]}
    with pytest.raises(ConfigError) as err:
        parse_config(base_config(destinations=[{"name": "api", "type": "http", "settings": settings}]))
    assert err.value.errors == {
        "destinations[0].settings.statuses.retry": "not a status range between 100 and 599: 600",
        "destinations[0].settings.token": "missing (required with auth: bearer)",
    }
    settings["statuses"] = None
    settings["token"] = "t-1234"
    with pytest.raises(ConfigError) as err:
        parse_config(base_config(destinations=[{"name": "api", "type": "http", "settings": settings}]))
    p = "destinations[0].settings.requests"
    assert err.value.errors == {
        f"{p}[0].url": "unbalanced {{ }} in '/e/{{userId}'",
        f"{p}[0].body.amount.type": "unknown type 'cent' (known: string, number, integer, boolean, cents, iso_time, "
                                    "unix_seconds, unix_ms)",
        f"{p}[1].method": "one of GET, POST, PUT, PATCH, DELETE",
        f"{p}[1].batch.max": "a whole number from 1 to 500",
        f"{p}[1].batch.wrap": "the body key the array goes under, e.g. events",
        f"{p}[1].bodyy": "unknown key (known: type, event, method, url, headers, query, body, format, batch, statuses)",
        f"{p}[2].event": "an event name or a list of them, for type: track",
        f"{p}[2].url": "missing (required): a path under base_url or a full URL, e.g. /contacts/{{userId}}",
        f"{p}[2].body.a": "not a path: 'not a path!' (a literal string goes in {value: ...})",
        f"{p}[2].body.b": "b is also the parent of b.c",
    }


def test_subscribing_to_a_type_without_a_request_is_a_config_error():
    settings = {"base_url": "http://127.0.0.1:9", "requests": [{"type": "track", "url": "/e"}]}
    with pytest.raises(ConfigError) as err:
        parse_config(base_config(destinations=[{"name": "api", "type": "http", "settings": settings,
                                                "subscribe": ["track", "identify"]}]))
    assert err.value.errors == {"destinations[0].subscribe": "http does not handle identify"}


def test_the_event_tester_shows_the_described_request_with_the_credentials_redacted(make_runtime, client_for):
    with FakeServer(customerio) as vendor:
        rt = make_runtime(destinations=[http_destination(CUSTOMERIO, vendor.base_url)])
        event = {"type": "track", "userId": "u1", "event": "Signed Up", "messageId": "m1", "timestamp": TS,
                 "properties": {"plan": "pro"}}
        r = client_for(rt).post("/v1/admin/test/api", json=event, headers={"Authorization": "Bearer admin-secret-token"})
        report = r.get_json()
        assert vendor.requests == [] and report["routed"] is True
        assert report["mapped"] == {"request": 1, "method": "POST", "url": "/customers/u1/events", "headers": [],
                                    "query": [], "body": {"name": "Signed Up", "data": {"plan": "pro"},
                                                          "timestamp": TS_UNIX}}
        (req,) = report["requests"]
        assert (req["method"], req["url"]) == ("POST", vendor.base_url + "/api/v1/customers/u1/events")
        assert req["body"] == json.dumps({"name": "Signed Up", "data": {"plan": "pro"}, "timestamp": TS_UNIX},
                                         separators=(",", ":"))
        assert req["headers"]["Authorization"] == "[redacted]"
        assert API_KEY not in r.get_data(as_text=True)


def test_a_form_request_sends_the_table_url_encoded_and_a_get_sends_only_its_query(make_runtime, client_for):
    settings = {"base_url": "{vendor}", "requests": [
        {"type": "identify", "url": "/subscribe", "format": "form",
         "body": {"email": "traits.email", "lists": {"value": [1, 2]}, "vip": {"from": "traits.vip", "type": "string"}}},
        {"type": "track", "method": "GET", "url": "/pixel", "query": {"e": "event", "u": "userId"}}]}
    with FakeServer() as vendor:
        rt = make_runtime(destinations=[http_destination(settings, vendor.base_url)])
        send(client_for(rt), [{"type": "identify", "userId": "u1", "messageId": "m1", "traits": {"email": "a@x.io", "vip": True}},
                              {"type": "track", "userId": "u1", "event": "Signed Up", "messageId": "m2"}])
        work(rt)
        form, pixel = vendor.requests
        assert form.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert form.form() == {"email": "a@x.io", "lists": "[1,2]", "vip": "true"}
        assert (pixel.method, pixel.path, pixel.query, pixel.body) == ("GET", "/pixel", {"e": ["Signed Up"], "u": ["u1"]}, b"")


def test_a_batched_url_never_lets_a_users_later_event_overtake_their_identify():
    settings = {"base_url": "{vendor}", "requests": [
        {"type": "track", "url": "/track", "body": {"event": "event", "user": "userId"}, "batch": {"max": 10}},
        {"type": "identify", "url": "/identify", "body": {"user": "userId"}, "batch": {"max": 10}}]}
    events = [{"type": "track", "event": "A", "userId": "u1"}, {"type": "identify", "userId": "u1"},
              {"type": "track", "event": "B", "userId": "u1"}, {"type": "track", "event": "C", "userId": "u2"},
              {"type": "identify", "userId": "u2"}]
    with FakeServer() as vendor:
        dc = parse_config(base_config(destinations=[http_destination(settings, vendor.base_url)])).destination("api")
        plugin = dc.plugin(dc.settings)
        outcomes = plugin.send([Prepared(e, plugin.map(e)) for e in events])
        assert [o.status.value for o in outcomes] == ["delivered"] * 5
        assert [(r.path, r.json()) for r in vendor.requests] == [
            ("/track", [{"event": "A", "user": "u1"}]),
            ("/identify", [{"user": "u1"}]),
            ("/track", [{"event": "B", "user": "u1"}, {"event": "C", "user": "u2"}]),
            ("/identify", [{"user": "u2"}]),
        ]


@pytest.mark.parametrize("kept, refused, message", [
    ("u1", "u1\r\nX-Admin: yes", "contains a control character"),
    ("José", "Ада", "not ISO-8859-1 text (HTTP headers carry no other)"),
])
def test_a_header_filled_with_text_http_cannot_carry_is_rejected_at_mapping(kept, refused, message):
    """A line break would start another header; text beyond ISO-8859-1 fails the whole batch's send."""
    settings = {"base_url": "{vendor}", "requests": [
        {"type": "track", "url": "/track", "headers": {"X-User": "{{userId}}"}}]}
    dc = parse_config(base_config(destinations=[http_destination(settings, "http://127.0.0.1:9")])).destination("api")
    plugin = dc.plugin(dc.settings)
    assert plugin.map({"type": "track", "event": "A", "userId": kept}).headers == (("X-User", kept),)
    with pytest.raises(RejectedEvent) as caught:
        plugin.map({"type": "track", "event": "A", "userId": refused})
    assert str(caught.value) == f"requests[0].headers.X-User: {message}"


def test_a_url_value_of_dots_is_rejected_rather_than_climbing_out_of_the_described_path(make_runtime, client_for):
    settings = {"base_url": "{vendor}/api/v1", "requests": [
        {"type": "track", "url": "/customers/{{userId}}/events", "body": {"n": "event"}}]}
    with FakeServer() as vendor:
        rt = make_runtime(destinations=[http_destination(settings, vendor.base_url)])
        send(client_for(rt), [{"type": "track", "userId": uid, "event": "E", "messageId": f"m{i}"}
                              for i, uid in enumerate(["..", ".", "a.b"])])
        work(rt)
        assert [r.path for r in vendor.requests] == ["/api/v1/customers/a.b/events"]
        reasons = {d["event"]["messageId"]: d["reason"] for _, d in rt.queue.dead_letters("api")}
        assert reasons == {
            "m0": "requests[0].url: '/customers/../events' has a . or .. segment (it would leave the described path)",
            "m1": "requests[0].url: '/customers/./events' has a . or .. segment (it would leave the described path)"}


def test_a_number_too_long_for_json_rejects_only_its_event_naming_the_field(make_runtime, client_for):
    settings = {"base_url": "{vendor}", "requests": [
        {"type": "track", "url": "/e", "body": {"n": "event", "amount": {"from": "properties.total", "type": "number"}},
         "batch": {"max": 10}}]}
    with FakeServer() as vendor:
        rt = make_runtime(destinations=[http_destination(settings, vendor.base_url)])
        send(client_for(rt), [{"type": "track", "userId": f"u{i}", "event": "E", "messageId": f"m{i}",
                               "properties": {"total": total}} for i, total in enumerate(["1", "1e5000", "2"])])
        work(rt)
        assert [r.json() for r in vendor.requests] == [[{"n": "E", "amount": 1}, {"n": "E", "amount": 2}]]
        ((_, dead),) = rt.queue.dead_letters("api")
        assert (dead["event"]["messageId"], dead["reason"]) == (
            "m1", "requests[0].body.amount: '1e5000' (from properties.total) is too large a number")


def test_a_query_token_with_url_special_characters_is_never_in_a_dead_letter(make_runtime, client_for):
    token = "qry/secret+2=="
    requests = [{"type": "track", "url": "/e", "body": {"n": "event"}}]
    with FakeServer(lambda req: Reply(400, {"error": "bad"})) as vendor:
        rt = make_runtime(destinations=[
            http_destination({"base_url": "{vendor}", "auth": "query", "auth_param": "api_key", "token": token,
                              "requests": requests}, vendor.base_url)])
        send(client_for(rt), [{"type": "track", "userId": "u1", "event": "E", "messageId": "m1"}])
        work(rt)
        assert vendor.requests[0].query["api_key"] == [token]
        ((_, dead),) = rt.queue.dead_letters("api")
        text = json.dumps(dead)
        assert "api_key=[redacted]" in text
        assert "secret" not in text


@pytest.mark.parametrize("status", [429, 409])
def test_a_status_the_description_retries_waits_as_long_as_its_retry_after_asks(status):
    settings = {"base_url": "{vendor}", "statuses": {"retry": [409, 429]},
                "requests": [{"type": "track", "url": "/e", "body": {"n": "event"}}]}
    with FakeServer(lambda req: Reply(status, {"error": "busy"}, headers={"Retry-After": "120"})) as vendor:
        dc = parse_config(base_config(destinations=[http_destination(settings, vendor.base_url)])).destination("api")
        plugin = dc.plugin(dc.settings)
        event = {"type": "track", "event": "A", "userId": "u1"}
        (outcome,) = plugin.send([Prepared(event, plugin.map(event))])
        assert (outcome.status.value, outcome.http_status, outcome.retry_after) == ("retry", status, 120.0)


def test_a_time_that_leaves_the_years_1_to_9999_in_utc_is_a_clear_rejection_in_the_tester_too(make_runtime, client_for):
    settings = {"base_url": "{vendor}", "requests": [
        {"type": "track", "url": "/e", "body": {"at": {"from": "properties.at", "type": "iso_time"}}}]}
    with FakeServer() as vendor:
        rt = make_runtime(destinations=[http_destination(settings, vendor.base_url)])
        event = {"type": "track", "userId": "u1", "event": "E", "messageId": "m1",
                 "properties": {"at": "0001-01-01T00:00:00+01:00"}}
        r = client_for(rt).post("/v1/admin/test/api", json=event, headers={"Authorization": "Bearer admin-secret-token"})
        assert r.status_code == 200 and vendor.requests == []
        assert r.get_json()["outcome"] == {"status": "rejected", "http_status": None, "reason":
                                           "requests[0].body.at: '0001-01-01T00:00:00+01:00' (from properties.at) "
                                           "is not an ISO 8601 time"}


def test_a_credential_an_http_header_cannot_carry_is_a_config_error_not_a_failure_of_every_send():
    """requests encodes Basic auth and header values as ISO-8859-1: 'пароль' raised inside every send."""
    base = {"base_url": "http://127.0.0.1:9", "requests": [{"type": "track", "url": "/e"}]}
    for settings, key in [({"auth": "basic", "username": "site", "password": "пароль-1"}, "password"),
                          ({"auth": "bearer", "token": "токен-1"}, "token"),
                          ({"auth": "header", "auth_param": "X-Key", "token": "t-1\r\nX-Admin: yes"}, "token"),
                          ({"headers": {"X-Site": "сайт"}}, "headers")]:
        with pytest.raises(ConfigError) as err:
            parse_config(base_config(destinations=[{"name": "api", "type": "http", "settings": {**base, **settings}}]))
        assert err.value.errors == {f"destinations[0].settings.{key}":
                                    "not fit for an HTTP header (a control character, or text outside ISO-8859-1)"}
    query = {**base, "auth": "query", "auth_param": "key", "token": "токен-1"}  # a query parameter carries any text
    assert parse_config(base_config(destinations=[{"name": "api", "type": "http", "settings": query}]))


def test_a_described_content_type_is_sent_as_written_whatever_its_case_or_level(make_runtime, client_for):
    vnd = "application/vnd.api+json"
    with FakeServer() as vendor:
        rt = make_runtime(destinations=[
            http_destination({"base_url": "{vendor}/a", "requests": [
                {"type": "track", "url": "/e", "headers": {"content-type": vnd}, "body": {"n": "event"}}]},
                vendor.base_url, name="a"),
            http_destination({"base_url": "{vendor}/b", "headers": {"Content-Type": vnd}, "requests": [
                {"type": "track", "url": "/e", "body": {"n": "event"}}]}, vendor.base_url, name="b")])
        send(client_for(rt), [{"type": "track", "userId": "u1", "event": "E", "messageId": "m1"}])
        work(rt)
        sent = sorted((r.path, [v for k, v in r.headers.items() if k.lower() == "content-type"]) for r in vendor.requests)
        assert sent == [("/a/e", [vnd]), ("/b/e", [vnd])]


def test_a_redirect_is_judged_by_the_statuses_not_followed_as_a_bodiless_get_elsewhere(make_runtime, client_for):
    settings = {"base_url": "{vendor}", "auth": "header", "auth_param": "X-Api-Key", "token": "hdr-secret-1",
                "requests": [{"type": "track", "url": "/e", "body": {"n": "event"}}]}

    def moved(req):
        return Reply(301, "", headers={"Location": "/elsewhere"}) if req.path == "/e" else Reply(200, {})

    with FakeServer(moved) as vendor:
        rt = make_runtime(destinations=[http_destination(settings, vendor.base_url)])
        send(client_for(rt), [{"type": "track", "userId": "u1", "event": "E", "messageId": "m1"}])
        work(rt)
        assert [(r.method, r.path) for r in vendor.requests] == [("POST", "/e")]
        ((_, dead),) = rt.queue.dead_letters("api")
        assert (dead["reason"], dead["status"]) == ("http destination answered 301", 301)
