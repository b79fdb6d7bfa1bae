"""The event tester: validation, routing reasons, the exact vendor request, a dry run unless asked to send."""
from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse

import pytest
import yaml
from click.testing import CliRunner

from destinations import registry
from destinations.errors import RejectedEvent
from destinations.webhook import WebhookDestination

from router.cli import main
from tests.destinations.stickystreet.fake_stickystreet import ACCOUNT_ID, API_KEY, USER_ID
from tests.fakes.http import FakeServer, Reply
from tests.helpers import WRITE_KEY, base_config, webhook_destination, work

ADMIN = {"Authorization": "Bearer admin-secret-token"}
EVENT = {"type": "track", "userId": "u1", "event": "Order Completed", "messageId": "m1",
         "timestamp": "2026-11-30T10:00:00.000Z", "properties": {"order_id": "o1"}}


def hook_with_header(url: str, **extra):
    return webhook_destination(url, settings={"headers": {"X-Api-Key": "header-key-5678"}}, **extra)


def test_a_dry_run_shows_the_exact_request_and_sends_nothing(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[hook_with_header(hook.base_url + "/in")])
        r = client_for(rt).post("/v1/admin/test/hook", json=EVENT, headers=ADMIN)
        report = r.get_json()
        assert r.status_code == 200 and hook.requests == []
        assert (report["valid"], report["routed"], report["sent"]) == (True, True, False)
        assert report["reason"] == "it would be routed here"
        assert report["note"] == "dry run: nothing was sent; each request was answered locally with 200 {}"
        assert report["mapped"] == report["event"] and report["event"]["receivedAt"].endswith("Z")
        (req,) = report["requests"]
        body = json.dumps(report["event"], separators=(",", ":"), ensure_ascii=False)
        assert (req["method"], req["url"], req["body"]) == ("POST", hook.base_url + "/in", body)
        assert req["headers"]["Content-Type"] == "application/json"
        assert req["headers"]["X-Api-Key"] == "[redacted]"
        assert req["headers"]["X-Signature"] == hmac.new(b"hook-secret-1234", body.encode(), hashlib.sha1).hexdigest()
        assert "response" not in req and "outcome" not in report
        assert "hook-secret-1234" not in r.get_data(as_text=True) and "header-key-5678" not in r.get_data(as_text=True)


def test_send_true_sends_once_and_returns_the_vendors_answer(make_runtime, client_for):
    with FakeServer(lambda req: Reply(422, {"error": "unknown list"}, headers={"X-Request-Id": "r-1"})) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        report = client_for(rt).post("/v1/admin/test/hook", json={**EVENT, "send": True}, headers=ADMIN).get_json()
        assert len(hook.requests) == 1 and hook.requests[0].json()["messageId"] == "m1"
        assert "send" not in hook.requests[0].json()
        assert report["sent"] is True
        assert report["outcome"] == {"status": "rejected", "reason": "webhook answered 422", "http_status": 422}
        (req,) = report["requests"]
        assert req["response"]["status"] == 422
        assert req["response"]["body"] == '{"error": "unknown list"}'
        assert req["response"]["headers"]["X-Request-Id"] == "r-1"
        assert rt.queue.depth("hook") == {"buffered": 0, "retrying": 0, "inflight_batches": 0, "dead_letters": 0,
                                         "breaker_open_until": 0, "tested": 1}


def test_the_tester_says_why_an_event_would_not_be_routed(make_runtime, client_for):
    rt = make_runtime(destinations=[
        webhook_destination("http://127.0.0.1:9/a", name="sub", subscribe=["identify"]),
        webhook_destination("http://127.0.0.1:9/b", name="filtered", events={"except": ["Order Completed"]}),
        webhook_destination("http://127.0.0.1:9/c", name="off", enabled=False),
        webhook_destination("http://127.0.0.1:9/d", name="named"),
    ])
    client = client_for(rt)

    def reason(name, event=EVENT):
        report = client.post(f"/v1/admin/test/{name}", json=event, headers=ADMIN).get_json()
        assert report["routed"] is False
        return report["reason"]

    assert reason("sub") == "not routed here: not subscribed to track (subscribe: identify)"
    assert reason("filtered") == "not routed here: events.except lists 'Order Completed'"
    assert reason("off") == "not routed here: the destination is disabled (enabled: false)"
    assert reason("named", {**EVENT, "integrations": {"All": True, "named": False}}) == \
        "not routed here: integrations['named'] is false"
    assert reason("named", {**EVENT, "integrations": {"All": False}}) == "not routed here: integrations.All is false"
    report = client.post("/v1/admin/test/sub", json={**EVENT, "send": True}, headers=ADMIN).get_json()
    assert report["sent"] is False and report["note"] == "not sent: the router would not route this event here"



def test_the_tester_routes_a_delete_whatever_its_integrations_object_says(make_runtime, client_for):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/a", name="sub", subscribe=["identify"])])
    delete = {"type": "delete", "userId": "u1", "messageId": "d1", "integrations": {"All": False, "sub": False}}
    report = client_for(rt).post("/v1/admin/test/sub", json=delete, headers=ADMIN).get_json()
    assert (report["routed"], report["reason"]) == (True, "it would be routed here")
    assert {"check": "integrations", "ok": True,
            "detail": "a delete reaches it whatever the integrations object says"} in report["checks"]

def test_the_tester_knows_what_ingest_would_drop(make_runtime, client_for):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/a")])
    client = client_for(rt)
    client.post("/v1/track", json={"writeKey": WRITE_KEY, **EVENT})
    report = client.post("/v1/admin/test/hook", json=EVENT, headers=ADMIN).get_json()
    assert report["reason"] == "not routed here: messageId 'm1' was already received from website: ingest would drop it as a duplicate"


def test_an_invalid_event_gets_the_errors_ingest_would_give(make_runtime, client_for):
    client = client_for(make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/a")]))
    r = client.post("/v1/admin/test/hook", json={"type": "track", "userId": "u"}, headers=ADMIN)
    assert r.status_code == 400
    assert r.get_json() == {"destination": "hook", "type": "webhook", "valid": False,
                            "errors": [{"path": "event", "message": "a track call needs an event name"}]}
    assert client.post("/v1/admin/test/hook", data="[1]", headers={**ADMIN, "Content-Type": "application/json"}).status_code == 400
    assert client.post("/v1/admin/test/hook", json={**EVENT, "send": "yes"}, headers=ADMIN).status_code == 400
    assert client.post("/v1/admin/test/nope", json=EVENT, headers=ADMIN).status_code == 404
    assert client.post("/v1/admin/test/hook", json=EVENT).status_code == 401


def test_a_mapping_rejection_is_shown_without_any_request(make_runtime, client_for):
    rt = make_runtime(destinations=[{"name": "ext", "type": "extole", "settings": {"api_key": "k-secret-4321", "base_url": "http://127.0.0.1:9"}}])
    event = {"type": "track", "anonymousId": "a", "event": "Order Completed", "messageId": "m1"}
    report = client_for(rt).post("/v1/admin/test/ext", json=event, headers=ADMIN).get_json()
    assert report["routed"] is True and report["mapped"] is None and report["requests"] == []
    assert report["outcome"]["status"] == "rejected" and report["outcome"]["reason"]


def test_form_encoded_secrets_are_redacted_from_the_request(make_runtime, client_for):
    settings = {"user_id": USER_ID, "user_api_key": API_KEY, "account_id": ACCOUNT_ID,
                "campaigns_to_include": "898989889", "base_url": "http://127.0.0.1:9"}
    rt = make_runtime(destinations=[{"name": "sticky", "type": "stickystreet", "settings": settings}])
    identify = {"type": "identify", "userId": "u1", "traits": {"email": "a@example.com", "firstName": "Ann"}, "messageId": "m1"}
    r = client_for(rt).post("/v1/admin/test/sticky", json=identify, headers=ADMIN)
    report = r.get_json()
    assert report["requests"], report
    form = urllib.parse.parse_qs(report["requests"][0]["body"])
    assert form["user_api_key"] == ["[redacted]"] and form["user_id"] == [USER_ID]
    assert API_KEY not in r.get_data(as_text=True)


def test_eventrouter_test_prints_the_report_and_exits_by_its_verdict(redis_url, tmp_path):
    with FakeServer() as hook:
        cfg = base_config(redis_url=redis_url, destinations=[webhook_destination(hook.base_url),
                                                             webhook_destination(hook.base_url, name="ids", subscribe=["identify"])])
        (tmp_path / "er.yaml").write_text(yaml.safe_dump(cfg))
        (tmp_path / "event.json").write_text(json.dumps(EVENT))
        (tmp_path / "bad.json").write_text("{not json")
        runner = CliRunner()
        env = {"EVENTROUTER_CONFIG": str(tmp_path / "er.yaml"), "REDIS_URL": redis_url}
        ok = runner.invoke(main, ["test", "hook", str(tmp_path / "event.json")], env=env)
        assert ok.exit_code == 0, ok.output
        assert json.loads(ok.output)["requests"][0]["method"] == "POST" and hook.requests == []
        sent = runner.invoke(main, ["test", "hook", str(tmp_path / "event.json"), "--send"], env=env)
        assert sent.exit_code == 0 and json.loads(sent.output)["outcome"]["status"] == "delivered"
        assert len(hook.requests) == 1
        no = runner.invoke(main, ["test", "ids", str(tmp_path / "event.json")], env=env)
        assert no.exit_code == 1 and json.loads(no.output)["routed"] is False
        bad = runner.invoke(main, ["test", "hook", str(tmp_path / "bad.json")], env=env)
        assert bad.exit_code == 2 and "is not valid JSON" in bad.output


def test_a_tester_send_draws_from_the_destinations_rate_limit_and_is_counted_apart(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, rate_limit="1/minute")])
        client = client_for(rt)
        first = client.post("/v1/admin/test/hook", json={**EVENT, "send": True}, headers=ADMIN)
        assert first.status_code == 200 and first.get_json()["sent"] is True and len(hook.requests) == 1
        again = client.post("/v1/admin/test/hook", json={**EVENT, "send": True}, headers=ADMIN)
        report = again.get_json()
        wait = report["rate_limited"]
        assert again.status_code == 429 and again.headers["Retry-After"] == str(wait) and 55 <= wait <= 60
        assert report["note"] == f"rate limited: hook's rate limit is spent, try again in {wait} s"
        assert report["errors"] == [{"path": "send", "message": report["note"]}]
        assert report["sent"] is False and report["requests"] == [] and len(hook.requests) == 1
        assert report["outcome"]["status"] == "retry"
        # the drain shares the limit the tester spent: the event waits in the buffer
        client.post("/v1/track", json={"writeKey": WRITE_KEY, **EVENT})
        work(rt)
        assert len(hook.requests) == 1 and rt.queue.depth("hook")["buffered"] == 1
        metrics = client.get("/metrics", headers=ADMIN).get_data(as_text=True)
        assert 'eventrouter_tester_sends_total{destination="hook"} 1.0' in metrics
        assert 'eventrouter_delivery_events_total{destination="hook",outcome="delivered"} 0.0' in metrics


def test_a_dry_run_neither_spends_the_rate_limit_nor_counts_as_a_tester_send(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, rate_limit="1/minute")])
        client = client_for(rt)
        for _ in range(3):
            assert client.post("/v1/admin/test/hook", json=EVENT, headers=ADMIN).status_code == 200
        assert client.post("/v1/admin/test/hook", json={**EVENT, "send": True}, headers=ADMIN).get_json()["sent"] is True
        assert 'eventrouter_tester_sends_total{destination="hook"} 1.0' in client.get("/metrics", headers=ADMIN).get_data(as_text=True)


def test_a_test_send_redacts_the_sessions_basic_auth_when_the_vendor_echoes_it(make_runtime, client_for):
    def echo(req):
        got = req.headers.get("Authorization", "")
        return Reply(400, {"echo": got}, headers={"X-Echo": got})

    with FakeServer(echo) as vendor:
        rt = make_runtime(destinations=[{"name": "cb", "type": "custobar", "settings": {
            "base_url": vendor.base_url, "username": "shop", "password": "pa55word-xyz"}}])
        identify = {"type": "identify", "userId": "u1", "messageId": "id-1", "traits": {"email": "a@example.com"}}
        r = client_for(rt).post("/v1/admin/test/cb", json={**identify, "send": True}, headers=ADMIN)
        (req,) = r.get_json()["requests"]
        assert vendor.requests[0].headers["Authorization"].startswith("Basic ")
        assert req["headers"]["Authorization"] == "[redacted]"
        assert req["response"]["headers"]["X-Echo"] == "[redacted]"
        assert req["response"]["body"] == '{"echo": "[redacted]"}'
        assert vendor.requests[0].headers["Authorization"][6:] not in r.get_data(as_text=True)


def answer_to(make_runtime, client_for, raw: bytes):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/in")])
    return client_for(rt).post("/v1/admin/test/hook", data=raw, headers={**ADMIN, "Content-Type": "application/json"})


def test_a_lone_surrogate_in_the_tested_event_is_a_400_with_its_path(make_runtime, client_for):
    raw = b'{"type": "track", "userId": "u1", "event": "Paid", "properties": {"a": "\\ud800"}}'
    r = answer_to(make_runtime, client_for, raw)
    assert r.status_code == 400
    assert r.get_json()["errors"] == [{"path": "properties.a", "message": "contains a lone UTF-16 surrogate (not valid Unicode)"}]


def test_nan_in_the_tested_event_is_a_400_not_invalid_json_echoed(make_runtime, client_for):
    raw = b'{"type": "track", "userId": "u1", "event": "Paid", "properties": {"a": NaN}}'
    r = answer_to(make_runtime, client_for, raw)
    assert r.status_code == 400
    assert r.get_json()["errors"] == [{"path": "properties.a", "message":
                                       "must be a finite number (NaN, Infinity and numbers beyond 1e308 are not JSON)"}]


def test_a_tested_event_nested_5000_deep_is_a_400(make_runtime, client_for):
    raw = b'{"type": "track", "userId": "u1", "event": "Paid", "properties": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001
    r = answer_to(make_runtime, client_for, raw)
    assert r.status_code == 400
    assert r.get_json()["errors"] == [{"path": "", "message": "body is nested too deeply (the limit is 64 levels per event)"}]


def test_a_clock_skew_beyond_the_calendar_is_the_reports_error_not_a_500(make_runtime, client_for):
    event = {"type": "track", "userId": "u1", "event": "Paid",
             "originalTimestamp": "0001-01-01T00:00:00Z", "sentAt": "9999-12-31T00:00:00Z"}
    r = answer_to(make_runtime, client_for, json.dumps(event).encode())
    assert r.status_code == 400
    assert r.get_json() == {"destination": "hook", "type": "webhook", "valid": False, "errors": [
        {"path": "sentAt", "message": "sentAt and originalTimestamp are too far apart to correct the clock skew "
                                      "(the result is outside the years 1-9999)"}]}


class Picky(WebhookDestination):
    """A webhook whose mapper refuses some products and has a bug for others."""

    slug = "picky"
    display_name = "Picky"
    passthrough = False  # its mapper does more than pass the event on

    def map(self, event):
        if event.get("properties", {}).get("refuse"):
            raise RejectedEvent("picky takes no refused products")
        if event.get("properties", {}).get("crash"):
            return event["properties"]["no_such_key"]
        return super().map(event)


@pytest.fixture
def picky(monkeypatch):
    """The plugin, registered for this test only (the registry reads its list once)."""
    monkeypatch.setitem(registry.BUILTIN, "picky", "tests.router.test_tester:Picky")
    registry.sources.cache_clear()
    yield
    monkeypatch.undo()
    registry.sources.cache_clear()


def test_a_dry_run_of_a_plugin_from_another_package_sends_nothing(make_runtime, client_for, picky):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[{"name": "p", "type": "picky", "settings": {"url": hook.base_url}}])
        report = client_for(rt).post("/v1/admin/test/p", json=EVENT, headers=ADMIN).get_json()
        assert hook.requests == []
    assert (report["sent"], report["note"]) == (False, "dry run: nothing was sent; each request was answered locally with 200 {}")
    (req,) = report["requests"]
    assert json.loads(req["body"])["messageId"] == "m1" and "response" not in req


def order(mid: str, *products: dict) -> dict:
    return {"type": "track", "userId": "u1", "event": "Order Completed", "messageId": mid, "properties": {"products": list(products)}}


def test_the_tester_shows_the_requests_a_delivery_makes_when_the_mapper_refuses_one_of_a_transforms_events(
    make_runtime, client_for, picky
):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[{"name": "p", "type": "picky", "settings": {"url": hook.base_url},
                                         "transform": "tests.router.transform_examples:split_products"}])
        client = client_for(rt)
        report = client.post("/v1/admin/test/p", json=order("m1", {"sku": "a"}, {"refuse": True}), headers=ADMIN).get_json()
        assert hook.requests == []
        client.post("/v1/track", json={"writeKey": WRITE_KEY, **order("m1", {"sku": "a"}, {"refuse": True})})
        work(rt)
        ((_, dead),) = rt.queue.dead_letters("p")
        delivered = [r.json() for r in hook.requests]
    assert [(e["messageId"], e["properties"]) for e in delivered] == [("m1-0", {"sku": "a"})]
    assert dead["reason"] == "event 2 of 2: picky takes no refused products"
    assert [json.loads(r["body"])["messageId"] for r in report["requests"]] == ["m1-0"]
    assert [m and m["properties"] for m in report["mapped"]] == [{"sku": "a"}, None]
    assert report["outcome"] == {"status": "rejected", "reason": dead["reason"], "http_status": None}


def test_a_mapper_that_fails_is_the_testers_rejection_as_it_is_a_deliverys_not_a_500(make_runtime, client_for, picky):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[{"name": "p", "type": "picky", "settings": {"url": hook.base_url}}])
        client = client_for(rt)
        event = {**EVENT, "properties": {"crash": True}}
        r = client.post("/v1/admin/test/p", json=event, headers=ADMIN)
        client.post("/v1/track", json={"writeKey": WRITE_KEY, **event})
        work(rt)
        ((_, dead),) = rt.queue.dead_letters("p")
    assert dead["reason"] == "mapping failed: KeyError: 'no_such_key'" and hook.requests == []
    assert r.status_code == 200
    report = r.get_json()
    assert (report["mapped"], report["requests"], report["sent"]) == (None, [], False)
    assert report["outcome"] == {"status": "rejected", "reason": dead["reason"], "http_status": None}


def test_a_test_send_that_could_not_connect_did_not_reach_the_vendor_and_is_not_counted(make_runtime, client_for):
    with FakeServer() as closed:
        url = closed.base_url  # a port nothing listens on once the server is gone
    rt = make_runtime(destinations=[webhook_destination(url)])
    client = client_for(rt)
    report = client.post("/v1/admin/test/hook", json={**EVENT, "send": True}, headers=ADMIN).get_json()
    assert report["outcome"]["status"] == "retry" and report["outcome"]["reason"] == "could not connect to webhook (ConnectionError)"
    (req,) = report["requests"]
    assert "response" not in req and report["sent"] is False
    assert 'eventrouter_tester_sends_total{destination="hook"} 0.0' in client.get("/metrics", headers=ADMIN).get_data(as_text=True)


def test_a_dry_run_hands_the_plugin_the_local_answer_as_if_a_vendor_had_sent_it():
    from destinations.http import HttpClient
    from router.tester import CaptureAdapter

    client = HttpClient("http://127.0.0.1:9", vendor="Acme")
    client.session.mount("http://", CaptureAdapter(passthrough=False))
    response = client.post("/events", data=b"{}")
    assert (response.status_code, response.json()) == (200, {})


def test_the_tester_shows_a_transforms_events_in_requests_of_at_most_batch_size_as_a_delivery_sends_them(
    make_runtime, client_for
):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, transform="tests.router.transform_examples:split_products",
                                                            batch_size=2, settings={"batch": True})])
        report = client_for(rt).post("/v1/admin/test/hook", json=order("m1", {"sku": "a"}, {"sku": "b"}, {"sku": "c"}),
                                     headers=ADMIN).get_json()
        assert hook.requests == []
    assert [[e["messageId"] for e in json.loads(r["body"])] for r in report["requests"]] == [["m1-0", "m1-1"], ["m1-2"]]


@pytest.mark.parametrize("part,outcome", [
    ("map", {"status": "rejected", "reason": "mapping failed: SystemExit: 2", "http_status": None}),
    ("send", {"status": "retry", "reason": "destination failed: SystemExit: 2", "http_status": None}),
])
def test_a_plugin_that_calls_sys_exit_is_the_testers_answer_not_the_end_of_the_web_worker(make_runtime, client_for,
                                                                                          monkeypatch, part, outcome):
    def exits(*args):
        raise SystemExit(2)

    monkeypatch.setattr(WebhookDestination, part, exits)
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9")])
    r = client_for(rt).post("/v1/admin/test/hook", json={**EVENT, "send": True}, headers=ADMIN)
    assert r.status_code == 200
    assert r.get_json()["outcome"] == outcome
