"""The dashboard in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright):
log in, read a chart's numbers, open a failed event's request and response, replay
one dead letter, trace a messageId, use the tester. No screenshots are kept."""
from __future__ import annotations

import json
import os
import threading
from typing import Iterator

import pytest
from werkzeug.serving import make_server

from router.app import create_app
from tests.fakes.http import FakeServer, Reply, Request
from tests.helpers import WRITE_KEY, webhook_destination, work

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt install chromium, or set CHROMIUM)", allow_module_level=True)


def track(mid: str) -> dict:
    return {"type": "track", "userId": "u1", "event": "Order Completed", "messageId": mid}


def wait_until(page, expression: str, tries: int = 300) -> None:
    """``page.wait_for_function`` builds its predicate with eval, which the dashboard's CSP refuses:
    ask the page (``evaluate`` is not the page's own script) every 50 ms, at most ``tries`` times."""
    for _ in range(tries):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"never true in the page: {expression}")


@pytest.fixture
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


class UntilFixed:
    """A vendor that refuses events until ``fixed``: a ``bad-*`` messageId with 422 (an unknown
    list), any other with 401."""

    def __init__(self) -> None:
        self.fixed = False

    def __call__(self, req: Request) -> Reply:
        if self.fixed:
            return Reply(200, {})
        return Reply(422, {"error": "unknown list"}) if req.json()["messageId"].startswith("bad") else Reply(401, "no")


def open_dead_letters(page, reason: str) -> None:
    """Open the hook's dead letters and wait until the reason filter offers ``reason``."""
    page.click("#card-hook .open-dead")
    page.wait_for_selector(f"#dl-reason option[value='{reason}']", state="attached")


def logged_in(browser, base: str):
    """A new page of the dashboard at ``base``, logged in with the admin token."""
    page = browser.new_page()
    page.set_default_timeout(15_000)
    page.goto(base + "/dashboard")
    page.fill("#token", "admin-secret-token")
    page.click("#login button")
    return page


@pytest.fixture
def served(make_runtime):
    servers = []

    def serve(rt) -> str:
        server = make_server("127.0.0.1", 0, create_app(runtime=rt), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    for s in servers:
        s.shutdown()


def test_an_operator_finds_fixes_and_replays_a_failed_event_in_the_dashboard(make_runtime, client_for, served, browser):
    state = {"fixed": False}

    def vendor(req):
        mid = req.json()["messageId"]
        echo = {"X-Request-Id": "r-" + mid, "X-Echo": req.headers.get("Authorization", "")}
        if mid == "bad-1" and not state["fixed"]:
            return Reply(422, {"error": "unknown list"}, headers=echo)
        return Reply(200, {}, headers=echo)

    with FakeServer(vendor) as hook:
        rt = make_runtime(destinations=[webhook_destination(
            hook.base_url + "/in", settings={"headers": {"Authorization": "Bearer s3cr3t-token"}})])
        client_for(rt).post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [track("ok-1"), track("ok-2"), track("bad-1")]})
        work(rt)
        base = served(rt)
        page = browser.new_page()
        page.set_default_timeout(15_000)
        blocked = []  # what the Content-Security-Policy refused: nothing of the page's own
        page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)

        # log in once: the token goes in a form, a session cookie comes back, HttpOnly
        page.goto(base + "/dashboard")
        page.fill("#token", "admin-secret-token")
        page.click("#login button")
        page.wait_for_selector("#card-hook dd[data-k='delivered']")
        (cookie,) = [c for c in page.context.cookies() if c["name"] == "er_session"]
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == ""

        # the chart's numbers: the plotted series and the totals beside it
        wait_until(page, "window.erCharts.hook && window.erCharts.hook.data[1].length === 60")
        plotted = page.evaluate("window.erCharts.hook.data.slice(1).map(s => s.reduce((a, b) => a + b, 0))")
        assert plotted == [2, 1, 0]  # delivered, failed, retrying over the last hour
        assert page.inner_text("#card-hook dd[data-k='delivered']") == "2"
        assert page.inner_text("#card-hook dd[data-k='failed']") == "1"
        assert page.inner_text("#card-hook dd[data-k='p50']") != "–"

        # the failed event: what the client sent, the request made, the vendor's answer, as stored
        page.click("#card-hook .open-dead")
        page.wait_for_selector("#errors tbody tr")
        assert page.inner_text("#errors tbody tr td:first-child") == "webhook answered 422"
        page.click("#dead tbody tr .open-detail")
        page.wait_for_selector("#detail:not([hidden])")
        assert json.loads(page.inner_text("#detail-sent"))["messageId"] == "bad-1"
        request_text = page.inner_text("#detail-request")
        assert request_text.startswith(f"POST {hook.base_url}/in") and "X-Signature:" in request_text
        assert '"messageId":"bad-1"' in request_text and "\nAuthorization: [redacted]\n" in request_text
        assert page.inner_text("#detail-note") == "as sent at the last attempt"
        response_text = page.inner_text("#detail-response")
        assert response_text.startswith("status 422\n") and response_text.endswith('\n\n{"error": "unknown list"}')
        assert "\nX-Request-Id: r-bad-1\n" in response_text and "\nX-Echo: [redacted]\n" in response_text
        assert "hook-secret-1234" not in page.content() and "s3cr3t-token" not in page.content()

        # recent deliveries: a delivered request and the vendor's answer, redacted
        page.click("#card-hook .open-recent")
        page.wait_for_selector("#recent-table tbody tr td")
        row = page.inner_text("#recent-table tbody tr")
        assert "ok-1" in row and f"POST {hook.base_url}/in" in row and "Authorization: [redacted]" in row
        assert "X-Request-Id: r-ok-1" in row and "status 200" in row
        assert "s3cr3t-token" not in page.content()

        # replay that one dead letter (a CSRF-protected POST made with the cookie)
        state["fixed"] = True
        page.check("#dead tbody tr .pick")
        page.click("#dl-replay-selected")
        wait_until(page, "document.querySelector('#dl-done').textContent === '1 re-queued'")
        work(rt)
        assert [r.json()["messageId"] for r in hook.requests].count("bad-1") == 2
        assert rt.queue.depth("hook")["dead_letters"] == 0

        # trace the messageId: received, failed, replayed, delivered
        page.fill("#trace-q", "bad-1")
        page.click("#trace-form button")
        page.wait_for_selector(".trace[data-mid='bad-1']")
        trace_text = page.inner_text(".trace[data-mid='bad-1']")
        assert "hook: delivered" in trace_text and "received from website: accepted" in trace_text
        assert "hook: rejected (final)" in trace_text and "webhook answered 422" in trace_text

        # the tester: a dry run shows the request and sends nothing
        sent_before = len(hook.requests)
        page.fill("#tester-event", json.dumps({"type": "track", "userId": "u9", "event": "Signed Up", "messageId": "t-1"}))
        page.click("#tester-dry")
        wait_until(page, "document.querySelector('#tester-out').textContent.length > 0")
        assert page.inner_text("#tester-verdict").startswith("it would be routed here")
        report = json.loads(page.inner_text("#tester-out"))
        assert report["requests"][0]["url"] == hook.base_url + "/in" and report["sent"] is False
        assert len(hook.requests) == sent_before
        assert page.inner_text("#error") == ""

        # log out: the page's own form (with its CSRF token) ends the session
        page.click("header form button")
        page.wait_for_selector("#token")
        assert [c for c in page.context.cookies() if c["name"] == "er_session"] == []
        assert blocked == []
        page.close()


def test_replay_all_matching_a_reason_replays_those_dead_letters_in_the_dashboard(make_runtime, client_for, served, browser):
    vendor = UntilFixed()
    with FakeServer(vendor) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, batch_size=1)])
        client_for(rt).post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [track("bad-1"), track("bad-2"), track("other-1")]})
        work(rt)
        assert rt.queue.depth("hook")["dead_letters"] == 3
        page = logged_in(browser, served(rt))
        open_dead_letters(page, "webhook answered 422")
        page.select_option("#dl-reason", "webhook answered 422")
        page.click("#dl-filter")
        vendor.fixed = True
        page.click("#dl-replay-all")
        wait_until(page, "document.querySelector('#dl-done').textContent !== '' || document.querySelector('#error').textContent !== ''")
        assert (page.inner_text("#dl-done"), page.inner_text("#error")) == ("2 re-queued", "")
        work(rt)
        assert [rec["id"] for _, rec in rt.queue.dead_letters("hook")] == ["other-1"]
        page.close()


def test_the_dead_letter_time_filter_reads_utc_like_the_times_the_table_shows(make_runtime, client_for, served, browser):
    from datetime import datetime, timedelta, timezone

    with FakeServer(lambda req: Reply(422, "no")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client_for(rt).post("/v1/track", json={"writeKey": WRITE_KEY, **track("bad-1")})
        work(rt)
        ((_, dead),) = rt.queue.dead_letters("hook")
        failed = datetime.fromtimestamp(dead["failed_at"] / 1000, timezone.utc).replace(second=0, microsecond=0)
        page = browser.new_context(timezone_id="Asia/Tokyo").new_page()  # a browser east of UTC
        page.set_default_timeout(15_000)
        page.goto(served(rt) + "/dashboard")
        page.fill("#token", "admin-secret-token")
        page.click("#login button")
        page.click("#card-hook .open-dead")
        page.wait_for_selector("#dead tbody tr")
        assert page.inner_text("#dead tbody tr td:nth-child(2)").startswith(failed.strftime("%Y-%m-%d %H:%M"))
        for since, count in ((failed + timedelta(minutes=1), "0 matching"), (failed, "1 matching")):
            page.fill("#dl-since", since.strftime("%Y-%m-%dT%H:%M"))
            page.click("#dl-filter")
            wait_until(page, f"document.querySelector('#dl-count').textContent === '{count}'")
        page.close()


HOSTILE = '<img src=x onerror="window.erXss=1"><script>window.erXss=2</script>'


def test_what_senders_and_vendors_write_is_shown_as_text_never_as_markup(make_runtime, client_for, served, browser):
    def vendor(req):
        echo = {"X-Echo": HOSTILE}
        return Reply(200, "<b>" + HOSTILE, headers=echo) if req.json()["messageId"] == "ok" else Reply(422, HOSTILE, headers=echo)

    hostile_event = {"type": "track", "userId": "u" + HOSTILE, "event": "e" + HOSTILE, "messageId": "m" + HOSTILE,
                     "properties": {HOSTILE: HOSTILE}}
    with FakeServer(vendor) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, batch_size=1)])
        r = client_for(rt).post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [
            hostile_event, {**track("ok"), "properties": {"p": HOSTILE}}, {"type": "track", "userId": HOSTILE}]})
        assert r.get_json()["accepted"] == 2
        work(rt)
        page = logged_in(browser, served(rt))
        page.click("#card-hook .open-dead")  # the reasons, the dead letters' messageIds
        page.click("#dead tbody tr .open-detail")  # what was sent, the request, the vendor's answer
        page.wait_for_selector("#detail:not([hidden])")
        page.click("#card-hook .open-recent")  # a delivered request and its answer
        page.wait_for_selector("#recent-table tbody tr td pre")
        page.click("#show-rejected")  # the event refused at ingest
        page.wait_for_selector("#rejected tbody tr")
        page.fill("#trace-q", "m" + HOSTILE)
        page.click("#trace-form button")
        page.wait_for_selector(".trace")
        page.fill("#tester-event", json.dumps(hostile_event))
        page.click("#tester-dry")
        wait_until(page, "document.querySelector('#tester-out').textContent.length > 0")
        wait_until(page, "document.querySelector('#live tbody tr') !== null")
        assert page.evaluate("document.querySelectorAll('body img, body script:not([nonce]), body b').length") == 0
        assert page.evaluate("window.erXss") is None
        assert HOSTILE in page.inner_text("#detail-response") and f"X-Echo: {HOSTILE}" in page.inner_text("#detail-response")
        assert page.inner_text("#dead tbody tr td:nth-child(6)") == "m" + HOSTILE
        assert "<b>" + HOSTILE in page.inner_text("#recent-table")
        assert page.get_attribute(".trace", "data-mid") == "m" + HOSTILE
        assert "m" + HOSTILE in page.inner_text("#live") and json.dumps(HOSTILE) in page.inner_text("#rejected")
        assert json.dumps(HOSTILE) in page.inner_text("#tester-out")
        page.close()


def test_the_charts_time_axis_is_utc_like_every_other_time_the_dashboard_shows(make_runtime, client_for, served, browser):
    from datetime import datetime, timezone

    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")])
    page = browser.new_context(timezone_id="Asia/Tokyo").new_page()  # a browser east of UTC
    page.set_default_timeout(15_000)
    page.goto(served(rt) + "/dashboard")
    page.fill("#token", "admin-secret-token")
    page.click("#login button")
    wait_until(page, "window.erCharts && window.erCharts.hook && window.erCharts.hook.data[0].length === 60")
    page.evaluate("window.erCharts.hook.setCursor({left: 100, top: 10})")
    at = datetime.fromtimestamp(page.evaluate("window.erCharts.hook.data[0][window.erCharts.hook.cursor.idx]"), timezone.utc)
    label, value = (page.inner_text(f".u-legend .u-series:first-child {part}") for part in (".u-label", ".u-value"))
    page.close()
    hour = at.hour % 12 or 12
    assert (label, value) == ("Time (UTC)", f"{at:%Y-%m-%d} {hour}:{at:%M}{'am' if at.hour < 12 else 'pm'}")


def test_replay_all_matching_replays_every_match_past_a_thousand(make_runtime, client_for, served, browser):
    state = {"fixed": False}
    with FakeServer(lambda req: Reply(200, {}) if state["fixed"] else Reply(422, {"error": "unknown list"})) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, batch_size=500, settings={"batch": True})])
        r = client_for(rt).post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [track(f"bad-{i}") for i in range(1001)]})
        assert r.get_json()["accepted"] == 1001
        work(rt)
        assert rt.queue.depth("hook")["dead_letters"] == 1001
        page = logged_in(browser, served(rt))
        open_dead_letters(page, "webhook answered 422")
        state["fixed"] = True
        page.click("#dl-replay-all")
        wait_until(page, "document.querySelector('#dl-done').textContent !== '' || document.querySelector('#error').textContent !== ''")
        assert (page.inner_text("#dl-done"), page.inner_text("#error")) == ("1001 re-queued", "")
        page.close()
        assert rt.queue.depth("hook")["dead_letters"] == 0 and rt.queue.depth("hook")["buffered"] == 1001


def test_replay_all_matching_finds_matches_behind_more_newer_dead_letters_than_a_search_reads(
    make_runtime, client_for, served, browser, monkeypatch
):
    from router.dashboard import api

    monkeypatch.setattr(api, "SCAN", 2)  # stands for the 5000 newest dead letters a search reads
    vendor = UntilFixed()
    with FakeServer(vendor) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        for mid in ("bad-1", "other-1", "other-2"):  # the 422 first: older than the two newest
            client_for(rt).post("/v1/track", json={"writeKey": WRITE_KEY, **track(mid)})
            work(rt)
        page = logged_in(browser, served(rt))
        open_dead_letters(page, "webhook answered 401")
        page.evaluate("""() => { const o = document.createElement("option"); o.value = o.textContent = "webhook answered 422";
                                 document.querySelector("#dl-reason").append(o); }""")  # a reason the table did not reach
        page.select_option("#dl-reason", "webhook answered 422")
        vendor.fixed = True
        page.click("#dl-replay-all")
        wait_until(page, "document.querySelector('#dl-done').textContent !== '' || document.querySelector('#error').textContent !== ''")
        assert (page.inner_text("#dl-done"), page.inner_text("#error")) == ("1 re-queued", "")
        page.close()
        assert sorted(rec["id"] for _, rec in rt.queue.dead_letters("hook")) == ["other-1", "other-2"]
