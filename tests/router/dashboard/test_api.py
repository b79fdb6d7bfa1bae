"""The dashboard's login, session cookie, CSRF, and the operator API it reads."""
from __future__ import annotations

import json
import time

from router.dashboard import session
from tests.fakes.http import FakeServer, Reply
from tests.helpers import WRITE_KEY, webhook_destination, work

ADMIN = {"Authorization": "Bearer admin-secret-token"}


def track(mid: str) -> dict:
    return {"type": "track", "userId": "u1", "event": "Order Completed", "messageId": mid}


def logged_in(client) -> str:
    """Log in through the form; returns the page's CSRF token."""
    r = client.post("/dashboard/login", data={"token": "admin-secret-token"})
    assert r.status_code == 303 and r.headers["Location"] == "/dashboard"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "admin-secret-token" not in cookie
    page = client.get("/dashboard").get_data(as_text=True)
    return page.split('name="csrf-token" content="')[1].split('"')[0]


def test_logging_in_once_gives_a_session_cookie_that_opens_the_operator_api(make_runtime, client_for):
    client = client_for(make_runtime())
    assert client.get("/v1/admin/destinations").status_code == 401
    bad = client.post("/dashboard/login", data={"token": "guess"})
    assert bad.status_code == 401 and "that is not the admin token" in bad.get_data(as_text=True)
    csrf = logged_in(client)
    assert client.get("/v1/admin/destinations").status_code == 200
    assert client.get("/metrics").status_code == 200
    client.post("/dashboard/logout", data={"csrf": csrf})
    assert client.get("/v1/admin/destinations").status_code == 401
    assert csrf


def test_state_changing_requests_with_the_cookie_need_the_csrf_token(make_runtime, client_for):
    client = client_for(make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")]))
    csrf = logged_in(client)
    r = client.post("/v1/admin/dead-letters/hook/replay", json={})
    assert r.status_code == 403 and r.get_json()["errors"][0]["message"] == "missing or wrong X-CSRF-Token: reload the dashboard"
    assert client.post("/v1/admin/dead-letters/hook/replay", json={}, headers={"X-CSRF-Token": "x" * 64}).status_code == 403
    ok = client.post("/v1/admin/dead-letters/hook/replay", json={}, headers={"X-CSRF-Token": csrf})
    assert ok.get_json() == {"success": True, "replayed": 0}


def test_another_sites_form_cannot_log_the_operator_out(make_runtime, client_for):
    client = client_for(make_runtime())
    csrf = logged_in(client)
    for form in ({}, {"csrf": "x" * 64}, {"csrf": "é"}):
        r = client.post("/dashboard/logout", data=form)
        assert r.status_code == 403 and "missing or wrong CSRF token: reload the dashboard" in r.get_data(as_text=True)
        assert "Set-Cookie" not in r.headers
        assert client.get("/v1/admin/destinations").status_code == 200
    page = client.get("/dashboard").get_data(as_text=True)
    assert f'<input type="hidden" name="csrf" value="{csrf}">' in page  # the page's own form sends it
    r = client.post("/dashboard/logout", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["Location"] == "/dashboard"
    assert client.get("/v1/admin/destinations").status_code == 401
    assert client.post("/dashboard/logout").status_code == 303  # no session: nothing to protect


def test_a_session_expires_and_dies_with_a_new_admin_token():
    cookie = session.issue("tok-1", now=1000)
    assert session.valid(cookie, "tok-1", now=1000 + 60)
    assert not session.valid(cookie, "tok-1", now=1000 + session.SESSION_SECONDS + 1)
    assert not session.valid(cookie, "tok-2", now=1060)
    assert not session.valid("1000.forged", "tok-1", now=1060) and not session.valid("", "tok-1")


def test_the_overview_gives_each_destination_its_points_totals_and_latency(make_runtime, client_for):
    with FakeServer(lambda req: Reply(422, "bad list") if req.json()["messageId"].startswith("bad") else Reply(200, {})) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client = client_for(rt)
        client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [track("a"), track("b"), track("bad-1")]})
        work(rt)
        for rng, points in (("hour", 60), ("day", 96), ("week", 168)):
            data = client.get(f"/v1/admin/overview?range={rng}", headers=ADMIN).get_json()
            (d,) = data["destinations"]
            assert data["range"] == rng and len(d["points"]["t"]) == points
            assert (sum(d["points"]["delivered"]), sum(d["points"]["failed"]), sum(d["points"]["retrying"])) == (2, 1, 0)
            assert d["window"] == {"delivered": 2, "failed": 1, "retrying": 0, "skipped": 0}
            assert d["latency_ms"]["p50"] is not None and d["latency_ms"]["p95"] >= d["latency_ms"]["p50"]
            assert d["dead_letters"] == 1
        assert client.get("/v1/admin/overview?range=year", headers=ADMIN).get_json()["range"] == "hour"


def test_dead_letters_are_grouped_by_reason_filtered_and_discarded(make_runtime, client_for):
    def vendor(req):
        mid = req.json()["messageId"]
        return Reply(422, "bad list") if mid.startswith("bad") else Reply(400, "bad field")

    with FakeServer(vendor) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client = client_for(rt)
        client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [track("bad-1"), track("bad-2"), track("odd-1")]})
        work(rt)
        errors = client.get("/v1/admin/errors/hook", headers=ADMIN).get_json()["errors"]
        assert [(e["reason"], e["count"], e["status"]) for e in errors] == [
            ("webhook answered 422", 2, 422), ("webhook answered 400", 1, 400)]
        found = client.get("/v1/admin/dead-letters/hook/search?reason=webhook answered 422", headers=ADMIN).get_json()
        assert found["total"] == 2 and {d["event"]["messageId"] for d in found["dead_letters"]} == {"bad-1", "bad-2"}
        later = int(time.time() * 1000) + 60_000
        assert client.get(f"/v1/admin/dead-letters/hook/search?since_ms={later}", headers=ADMIN).get_json()["total"] == 0
        assert client.get("/v1/admin/dead-letters/hook/search?until_ms=1", headers=ADMIN).get_json()["total"] == 0
        assert client.get("/v1/admin/dead-letters/hook/search?until_ms=soon", headers=ADMIN).status_code == 400
        one = found["dead_letters"][0]["entry_id"]
        r = client.post("/v1/admin/dead-letters/hook/discard", json={"entry_ids": [one]}, headers=ADMIN)
        assert r.get_json() == {"success": True, "discarded": 1}
        r = client.post("/v1/admin/dead-letters/hook/discard", json={"all": True, "reason": "webhook answered 400"}, headers=ADMIN)
        assert r.get_json() == {"success": True, "discarded": 1}
        assert rt.queue.depth("hook")["dead_letters"] == 1
        assert client.post("/v1/admin/dead-letters/hook/discard", json={}, headers=ADMIN).status_code == 400


def echo_credentials(status: int):
    """A vendor that refuses everything and echoes the credentials it got in a header and its body."""
    def handle(req):
        got = req.headers.get("Authorization", "")
        return Reply(status, {"error": "bad list", "echo": got}, headers={"X-Echo": got, "X-Request-Id": "r-9"})
    return handle


def test_a_dead_letter_keeps_the_request_made_and_the_vendors_answer_with_secrets_redacted(make_runtime, client_for):
    with FakeServer(echo_credentials(422)) as hook:
        rt = make_runtime(destinations=[webhook_destination(
            hook.base_url + "/in", settings={"headers": {"Authorization": "Bearer s3cr3t-token"}})])
        client = client_for(rt)
        client.post("/v1/track", json={"writeKey": WRITE_KEY, **track("bad-1")})
        work(rt)
        (dead,) = client.get("/v1/admin/dead-letters/hook", headers=ADMIN).get_json()["dead_letters"]
        (found,) = client.get("/v1/admin/dead-letters/hook/search", headers=ADMIN).get_json()["dead_letters"]
        for listed in (dead, found):  # lists say a request is stored; the dead letter's own page shows it
            assert listed["request_stored"] is True and "exchanges" not in listed
        r = client.get(f"/v1/admin/dead-letters/hook/{dead['entry_id']}", headers=ADMIN)
        d = r.get_json()
        assert d["sent"]["messageId"] == "bad-1" and d["reason"] == "webhook answered 422"
        assert d["request_stored"] is True and d["request_note"] == "as sent at the last attempt"
        (req,) = d["requests"]
        wire = hook.requests[0]
        assert (req["method"], req["url"], req["body"]) == ("POST", hook.base_url + "/in", wire.body.decode())
        assert req["headers"] == {
            "User-Agent": "eventrouter/0.1", "Accept-Encoding": wire.headers["Accept-Encoding"], "Accept": "*/*",
            "Connection": "keep-alive", "Content-Type": "application/json", "Authorization": "[redacted]",
            "X-Signature": wire.headers["X-Signature"], "Content-Length": str(len(wire.body))}
        assert d["response"]["status"] == 422
        assert d["response"]["body"] == '{"error": "bad list", "echo": "[redacted]"}'
        assert d["response"]["headers"]["X-Echo"] == "[redacted]"
        assert d["response"]["headers"]["X-Request-Id"] == "r-9"
        assert req["response"] == d["response"]
        text = r.get_data(as_text=True) + json.dumps(rt.queue.dead_letters("hook"))
        assert "s3cr3t-token" not in text and "hook-secret-1234" not in text
        assert len(hook.requests) == 1


def test_a_dead_letter_kept_before_requests_were_stored_gets_its_request_rebuilt(make_runtime, client_for):
    with FakeServer(lambda req: Reply(422, {"error": "bad list", "echo": "hook-secret-1234"})) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url + "/in")])
        client = client_for(rt)
        client.post("/v1/track", json={"writeKey": WRITE_KEY, **track("bad-1")})
        work(rt)
        ((eid, rec),) = rt.queue.dead_letters("hook")
        old = {k: v for k, v in rec.items() if k != "exchanges"}
        rt.redis.xdel(rt.queue.keys.dead("hook"), eid)
        old_id = rt.redis.xadd(rt.queue.keys.dead("hook"), {"d": json.dumps(old)}).decode()
        r = client.get(f"/v1/admin/dead-letters/hook/{old_id}", headers=ADMIN)
        d = r.get_json()
        assert d["request_stored"] is False
        assert d["request_note"] == "rebuilt from the stored event with the current settings; nothing was sent"
        (req,) = d["requests"]
        assert (req["method"], req["url"]) == ("POST", hook.base_url + "/in")
        assert req["headers"]["Content-Type"] == "application/json" and '"messageId":"bad-1"' in req["body"]
        assert d["response"] == {"status": 422, "headers": {}, "body": '{"error": "bad list", "echo": "[redacted]"}'}
        assert "hook-secret-1234" not in r.get_data(as_text=True)
        assert len(hook.requests) == 1  # rebuilding the request sent nothing
        assert client.get("/v1/admin/dead-letters/hook/1-0", headers=ADMIN).status_code == 404


def custobar(url: str, **settings) -> dict:
    return {"name": "cb", "type": "custobar", "settings": {"base_url": url, **settings}}


IDENTIFY = {"type": "identify", "userId": "u1", "messageId": "id-1", "traits": {"email": "a@example.com"}}


def test_basic_auth_of_the_session_is_redacted_from_a_stored_request_and_its_echo(make_runtime, client_for):
    with FakeServer(echo_credentials(400)) as vendor:
        rt = make_runtime(destinations=[custobar(vendor.base_url, username="shop", password="pa55word-xyz")])
        client = client_for(rt)
        client.post("/v1/identify", json={"writeKey": WRITE_KEY, **IDENTIFY})
        work(rt)
        assert vendor.requests[0].headers["Authorization"].startswith("Basic ")
        ((eid, rec),) = rt.queue.dead_letters("cb")
        r = client.get(f"/v1/admin/dead-letters/cb/{eid}", headers=ADMIN)
        d = r.get_json()
        (req,) = d["requests"]
        assert req["headers"]["Authorization"] == "[redacted]"
        assert req["url"] == vendor.base_url + "/api/customers/upload/"
        assert d["response"]["headers"]["X-Echo"] == "[redacted]"
        assert d["response"]["body"] == '{"error": "bad list", "echo": "[redacted]"}'
        encoded = vendor.requests[0].headers["Authorization"].split(" ")[1]
        text = r.get_data(as_text=True) + json.dumps(rec)
        assert encoded not in text and "pa55word-xyz" not in text


def test_a_session_credential_the_vendor_quotes_in_its_error_is_redacted_from_the_trace_as_from_the_dead_letter(
        make_runtime, client_for):
    def vendor(req):
        return Reply(400, {"error": "bad credentials " + req.headers["Authorization"]})

    with FakeServer(vendor) as hook:
        rt = make_runtime(destinations=[custobar(hook.base_url, username="shop", password="pa55word-xyz")])
        client = client_for(rt)
        client.post("/v1/identify", json={"writeKey": WRITE_KEY, **IDENTIFY})
        work(rt)
        encoded = hook.requests[0].headers["Authorization"].split(" ")[1]  # base64 of shop:pa55word-xyz
        reason = "Custobar refused the upload (400): bad credentials [redacted]"
        ((_, dead),) = rt.queue.dead_letters("cb")
        assert dead["reason"] == reason
        for path in ("/v1/admin/trace?messageId=id-1", "/v1/admin/live"):
            answer = client.get(path, headers=ADMIN)
            ((trace,),) = answer.get_json().values()
            assert trace["entries"][-1]["reason"] == reason and encoded not in answer.get_data(as_text=True)
        assert encoded not in json.dumps([v.decode() for v in rt.redis.lrange(f"{rt.config.namespace}:tr:id-1", 0, -1)])


def test_a_session_credential_the_vendor_quotes_in_its_error_stays_out_of_the_log_lines_and_failing_note(make_runtime, client_for, caplog):
    import logging

    def vendor(req):
        return Reply(400, {"error": "bad credentials " + req.headers["Authorization"]})

    with FakeServer(vendor) as hook, caplog.at_level(logging.INFO):
        rt = make_runtime(destinations=[custobar(hook.base_url, username="shop", password="pa55word-xyz")])
        client_for(rt).post("/v1/identify", json={"writeKey": WRITE_KEY, **IDENTIFY})
        work(rt)
        encoded = hook.requests[0].headers["Authorization"].split(" ")[1]
        assert encoded not in rt.redis.get(f"{rt.config.namespace}:failing:cb").decode()  # the note the line is made of
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith(("dead letter at cb", "cb started failing"))]
    assert lines == ["dead letter at cb: Custobar refused the upload (400): bad credentials [redacted] (status 400, "
                     "messageId id-1, 1 attempts)",
                     "cb started failing: Custobar refused the upload (400): bad credentials [redacted] (status 400)"]
    assert encoded not in caplog.text


def test_the_tester_redacts_a_session_credential_the_vendor_quotes_in_its_error_from_the_outcome(make_runtime, client_for):
    def vendor(req):
        return Reply(400, {"error": "bad credentials " + req.headers["Authorization"]})

    with FakeServer(vendor) as hook:
        rt = make_runtime(destinations=[custobar(hook.base_url, username="shop", password="pa55word-xyz")])
        r = client_for(rt).post("/v1/admin/test/cb", json={**IDENTIFY, "send": True}, headers=ADMIN)
        encoded = hook.requests[0].headers["Authorization"].split(" ")[1]
    assert r.get_json()["outcome"] == {"status": "rejected", "http_status": 400,
                                       "reason": "Custobar refused the upload (400): bad credentials [redacted]"}
    assert encoded not in r.get_data(as_text=True)


def test_a_session_credential_the_vendor_quotes_in_a_retry_reason_is_redacted_from_the_last_error(make_runtime, client_for):
    import base64

    from tests.destinations.yespo.fake_yespo import API_KEY, FakeYespo

    pair = base64.b64encode(f"shop:{API_KEY}".encode()).decode()  # the Basic auth Yespo's client sends
    with FakeYespo() as vendor:
        vendor.script("POST", "/api/v1/orders", Reply(200, {"failedOrders": [{"order": {}, "error": f"auth Basic {pair}"}]}))
        rt = make_runtime(destinations=[{"name": "ye", "type": "yespo", "settings": {
            "base_url": vendor.base_url, "api_key": API_KEY, "username": "shop", "orders_via": "orders_api"}}])
        client = client_for(rt)
        order = {"order_id": "o1", "total": 5, "currency": "EUR", "products": [{"sku": "s", "price": 5}]}
        client.post("/v1/track", json={"writeKey": WRITE_KEY, "type": "track", "event": "Order Completed", "userId": "u1",
                                       "messageId": "o-1", "context": {"traits": {"email": "u1@example.com"}}, "properties": order})
        work(rt)
        assert vendor.requests[-1].headers["Authorization"] == f"Basic {pair}"
        answer = client.get("/v1/admin/retrying/ye", headers=ADMIN)
        (waiting,) = answer.get_json()["retrying"]
        assert waiting["last_error"] == "Yespo refused 1 order(s) without saying which (auth [redacted]); sending again"
        assert pair not in answer.get_data(as_text=True)


def test_a_token_header_is_redacted_from_a_stored_request_and_its_echo(make_runtime, client_for):
    with FakeServer(echo_credentials(400)) as vendor:
        rt = make_runtime(destinations=[custobar(vendor.base_url, token="cb-token-98765")])
        client = client_for(rt)
        client.post("/v1/identify", json={"writeKey": WRITE_KEY, **IDENTIFY})
        work(rt)
        assert vendor.requests[0].headers["Authorization"] == "Token cb-token-98765"
        ((eid, rec),) = rt.queue.dead_letters("cb")
        d = client.get(f"/v1/admin/dead-letters/cb/{eid}", headers=ADMIN).get_json()
        assert d["requests"][0]["headers"]["Authorization"] == "[redacted]"
        assert d["response"]["headers"]["X-Echo"] == "[redacted]"
        assert d["response"]["body"] == '{"error": "bad list", "echo": "[redacted]"}'
        assert "cb-token-98765" not in json.dumps(d) + json.dumps(rec)


def test_the_recent_deliveries_keep_one_redacted_exchange_per_batch_up_to_the_configured_number(make_runtime, client_for):
    with FakeServer(echo_credentials(200)) as hook:
        rt = make_runtime(destinations=[webhook_destination(
            hook.base_url + "/in", settings={"headers": {"Authorization": "Bearer s3cr3t-token"}})],
            metrics={"samples": 2})
        client = client_for(rt)
        for mid in ("m1", "m2", "m3"):
            client.post("/v1/track", json={"writeKey": WRITE_KEY, **track(mid)})
            work(rt)
        r = client.get("/v1/admin/deliveries/hook", headers=ADMIN)
        got = r.get_json()["deliveries"]
        assert [s["message_ids"] for s in got] == [["m3"], ["m2"]]
        newest = got[0]
        assert newest["destination"] == "hook" and newest["events"] == 1
        (x,) = newest["exchanges"]
        assert (x["method"], x["url"], x["body"]) == ("POST", hook.base_url + "/in", hook.requests[2].body.decode())
        assert x["headers"]["Authorization"] == "[redacted]"
        assert x["response"]["status"] == 200 and x["response"]["headers"]["X-Echo"] == "[redacted]"
        assert "s3cr3t-token" not in r.get_data(as_text=True)
        assert client.get("/v1/admin/deliveries/nope", headers=ADMIN).status_code == 404
        assert client.get("/v1/admin/deliveries/hook").status_code == 401


def test_the_live_view_lists_the_newest_events_in_and_out(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client = client_for(rt)
        client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [track("a"), track("b"), track("c")]})
        work(rt)
        events = client.get("/v1/admin/live?limit=2", headers=ADMIN).get_json()["events"]
        assert [e["messageId"] for e in events] == ["c", "b"]
        assert events[0]["destinations"] == {"hook": "delivered"}


BAD_DEAD_LETTER_REQUESTS = [
    ("POST", "/v1/admin/dead-letters/hook/discard", b"[1, 2]", 400, "body must be a JSON object"),
    ("POST", "/v1/admin/dead-letters/hook/discard", b'{"entry_ids": ["nope"]}', 400, "not a dead letter's entry id"),
    ("POST", "/v1/admin/dead-letters/hook/discard", b'{"entry_ids": ["99999999999999999999999-0"]}', 400,
     "not a dead letter's entry id"),
    ("POST", "/v1/admin/dead-letters/hook/discard", b'{"all": true, "reason": 5}', 400, "reason must be a string"),
    ("POST", "/v1/admin/dead-letters/hook/discard", b'{"all": true, "since_ms": 1e400}', 400, "must be a finite number"),
    ("POST", "/v1/admin/dead-letters/hook/discard", b'{"all": true, "since_ms": 1.5}', 400, "whole milliseconds"),
    ("GET", "/v1/admin/dead-letters/hook/search?since_ms=99999999999999999999999", b"", 400, "whole milliseconds"),
    ("GET", "/v1/admin/dead-letters/hook/search?until_ms=-5", b"", 400, "whole milliseconds"),
    ("GET", "/v1/admin/dead-letters/hook/99999999999999999999999-0", b"", 404, "no dead letter"),
    # more digits than Python's int() takes from text (4300)
    ("GET", "/v1/admin/dead-letters/hook/search?since_ms=" + "9" * 5000, b"", 400, "whole milliseconds"),
    ("POST", "/v1/admin/dead-letters/hook/discard", b'{"all": true, "until_ms": "' + b"9" * 5000 + b'"}', 400,
     "whole milliseconds"),
]


def test_bad_dead_letter_requests_are_answered_4xx_and_change_nothing(make_runtime, client_for):
    with FakeServer(lambda req: Reply(400, {"error": "no"})) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client = client_for(rt)
        client.post("/v1/batch", json={"batch": [track("m1")]}, auth=(WRITE_KEY, ""))
        work(rt)
        assert rt.queue.depth("hook")["dead_letters"] == 1
        for method, path, body, status, message in BAD_DEAD_LETTER_REQUESTS:
            r = client.open(path, method=method, data=body, headers={**ADMIN, "Content-Type": "application/json"})
            assert r.status_code == status, (path, body, r.get_data())
            assert message in r.get_json()["errors"][0]["message"], (path, body)
        assert rt.queue.depth("hook")["dead_letters"] == 1


def test_the_search_until_a_time_finds_older_dead_letters_behind_more_recent_ones_than_it_reads(make_runtime, client_for, monkeypatch):
    from router.dashboard import api

    monkeypatch.setattr(api, "SCAN", 2)  # stands for the 5000 newest dead letters the search reads
    with FakeServer(lambda req: Reply(422, "no")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client = client_for(rt)
        for mid in ("old", "new-1", "new-2"):
            client.post("/v1/track", json={"writeKey": WRITE_KEY, **track(mid)})
            work(rt)
        (old_id, _), *_ = rt.queue.dead_letters("hook")
        until = int(old_id.split("-")[0])
        assert all(int(eid.split("-")[0]) > until for eid, _ in rt.queue.dead_letters("hook")[1:])
        found = client.get(f"/v1/admin/dead-letters/hook/search?until_ms={until}", headers=ADMIN).get_json()
        assert [d["id"] for d in found["dead_letters"]] == ["old"] and found["total"] == 1
        r = client.post("/v1/admin/dead-letters/hook/discard", json={"all": True, "until_ms": until}, headers=ADMIN)
        assert r.get_json()["discarded"] == 1
        assert [rec["id"] for _, rec in rt.queue.dead_letters("hook")] == ["new-1", "new-2"]


def refused_batch(make_runtime, client_for, monkeypatch, n: int):
    """A webhook that refused a batch of ``n`` events (``n`` dead letters), while the dashboard's
    searches read only the newest 2 (standing for the 5000 they read); (runtime, client)."""
    from router.dashboard import api

    monkeypatch.setattr(api, "SCAN", 2)
    with FakeServer(lambda req: Reply(422, "no")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client = client_for(rt)
        client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [track(f"m{i}") for i in range(n)]})
        work(rt)
    return rt, client


def test_discard_all_matching_discards_every_match_not_only_the_newest_the_search_reads(make_runtime, client_for, monkeypatch):
    rt, client = refused_batch(make_runtime, client_for, monkeypatch, 5)
    assert rt.queue.depth("hook")["dead_letters"] == 5
    r = client.post("/v1/admin/dead-letters/hook/discard", json={"all": True}, headers=ADMIN)
    assert r.get_json() == {"success": True, "discarded": 5}
    assert rt.queue.depth("hook")["dead_letters"] == 0


def test_the_overview_counts_a_destinations_queue_in_the_words_of_the_destinations_api(make_runtime, client_for):
    with FakeServer(lambda req: Reply(422, "bad list")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client = client_for(rt)
        client.post("/v1/track", json={"writeKey": WRITE_KEY, **track("bad-1")})
        work(rt)
        (listed,) = client.get("/v1/admin/destinations", headers=ADMIN).get_json()["destinations"]
        (shown,) = client.get("/v1/admin/overview", headers=ADMIN).get_json()["destinations"]
    assert listed["dead_lettered"] == 1 and "rejected" not in listed  # "rejected" is what ingest refuses
    assert {k: shown[k] for k in listed} == listed and "rejected" not in shown


def csp_of(r) -> dict[str, str]:
    return {d.split()[0]: d.partition(" ")[2] for d in (p.strip() for p in r.headers["Content-Security-Policy"].split(";")) if d}


def test_dashboard_pages_may_not_be_framed_sniffed_cached_or_run_scripts_but_their_own(make_runtime, client_for):
    client = client_for(make_runtime())
    login_page = client.get("/dashboard")
    refused = client.post("/dashboard/login", data={"token": "guess"})
    logged_in(client)
    page = client.get("/dashboard")
    static = client.get("/dashboard/static/uPlot.min.css")
    for r in (login_page, refused, page, static):
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"
    for r in (login_page, refused, page):
        assert r.headers["Cache-Control"] == "no-store"
        html = r.get_data(as_text=True)
        nonce = html.split('<style nonce="')[1].split('"')[0]
        assert len(nonce) >= 16 and html.count(f'nonce="{nonce}"') == (2 if r is page else 1)  # its style, and its script
        assert csp_of(r) == {"default-src": "'none'", "script-src": f"'self' 'nonce-{nonce}'",
                             "style-src": f"'self' 'nonce-{nonce}'", "img-src": "'self' data:", "connect-src": "'self'",
                             "form-action": "'self'", "frame-ancestors": "'none'", "base-uri": "'none'"}
        assert ' style="' not in html and "<script>" not in html  # nothing the policy would block
    assert csp_of(login_page)["script-src"] != csp_of(page)["script-src"]  # a nonce per answer
    api = client.get("/v1/admin/overview")
    assert api.headers["X-Content-Type-Options"] == "nosniff" and api.headers["Cache-Control"] == "no-store"


def test_counts_over_more_dead_letters_than_the_dashboard_reads_say_they_are_a_lower_bound(make_runtime, client_for, monkeypatch):
    from router.dashboard import api

    _, client = refused_batch(make_runtime, client_for, monkeypatch, 3)
    errors = client.get("/v1/admin/errors/hook", headers=ADMIN).get_json()
    found = client.get("/v1/admin/dead-letters/hook/search?reason=webhook answered 422", headers=ADMIN).get_json()
    everything = client.get("/v1/admin/dead-letters/hook/search?since_ms=1", headers=ADMIN).get_json()
    monkeypatch.setattr(api, "SCAN", 3)
    exact = client.get("/v1/admin/dead-letters/hook/search", headers=ADMIN).get_json()
    assert [(e["reason"], e["count"]) for e in errors["errors"]] == [("webhook answered 422", 2)]
    assert (errors["complete"], errors["read"]) == (False, 2)
    assert (found["total"], found["complete"], found["read"]) == (2, False, 2)
    assert (everything["total"], everything["complete"]) == (2, False)
    assert (exact["total"], exact["complete"], exact["read"]) == (3, True, 3)


def test_the_overview_counts_ingest_in_the_words_and_order_of_the_destinations_api(make_runtime, client_for):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")])
    client = client_for(rt)
    client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [track("a"), track("a")]})
    shown = client.get("/v1/admin/overview", headers=ADMIN).get_json()["ingest"]
    listed = client.get("/v1/admin/destinations", headers=ADMIN).get_json()["ingest"]
    assert list(shown.items()) == list(listed.items()) == [("accepted", 1), ("rejected", 0), ("duplicate", 1), ("suppressed", 0)]


def test_a_search_past_the_dead_letters_it_reads_names_where_the_next_one_starts(make_runtime, client_for, monkeypatch):
    rt, client = refused_batch(make_runtime, client_for, monkeypatch, 3)
    ids = [eid for eid, _ in rt.queue.dead_letters("hook", newest_first=True)]
    first = client.get("/v1/admin/dead-letters/hook/search", headers=ADMIN).get_json()
    rest = client.get(f"/v1/admin/dead-letters/hook/search?before={first['next']}", headers=ADMIN).get_json()
    bad = client.get("/v1/admin/dead-letters/hook/search?before=soon", headers=ADMIN)
    assert ([d["entry_id"] for d in first["dead_letters"]], first["complete"], first["next"]) == (ids[:2], False, ids[1])
    assert ([d["entry_id"] for d in rest["dead_letters"]], rest["complete"], rest["next"]) == (ids[2:], True, None)
    assert bad.status_code == 400 and "entry id" in bad.get_json()["errors"][0]["message"]
