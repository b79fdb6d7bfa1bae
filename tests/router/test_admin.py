"""The operator API: stats, dead letters and replay, ingest rejections."""
from __future__ import annotations

from tests.fakes.http import FakeServer, Reply
from tests.helpers import WRITE_KEY, webhook_destination, work

ADMIN = {"Authorization": "Bearer admin-secret-token"}


def test_the_operator_api_needs_the_admin_token(make_runtime, client_for):
    client = client_for(make_runtime())
    assert client.get("/v1/admin/destinations").status_code == 401
    assert client.get("/v1/admin/destinations", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/v1/admin/destinations", headers=ADMIN).status_code == 200
    assert client.get("/v1/admin/destinations", headers={"Authorization": "bearer admin-secret-token"}).status_code == 200


def test_a_non_ascii_admin_token_opens_the_operator_api_as_its_utf8_bytes(make_runtime, client_for):
    client = client_for(make_runtime(admin_token="tökén-secretà"))
    # a server hands a header's bytes on as latin-1 text: what curl sends for "Bearer tökén-secretà"
    sent = "Bearer " + "tökén-secretà".encode().decode("latin-1")
    assert client.get("/v1/admin/destinations", headers={"Authorization": sent}).status_code == 200
    assert client.get("/v1/admin/destinations", headers={"Authorization": sent[:-1]}).status_code == 401
    assert client.get("/v1/admin/destinations", headers={"Authorization": "Bearer tökén-secretà"}).status_code == 401


def test_without_an_admin_token_the_operator_api_is_off(make_runtime, client_for):
    r = client_for(make_runtime(admin_token=None)).get("/v1/admin/destinations", headers=ADMIN)
    assert r.status_code == 403
    assert r.get_json()["errors"][0]["message"] == "the operator API is off: set admin_token in the config"


def test_an_operator_sees_why_an_event_failed_and_replays_it(make_runtime, client_for):
    state = {"ok": False}
    with FakeServer(lambda req: Reply(200, {}) if state["ok"] else Reply(422, {"error": "no such list"})) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client = client_for(rt)
        client.post("/v1/track", json={"writeKey": WRITE_KEY, "userId": "u", "event": "e", "messageId": "m1"})
        work(rt)
        stats = client.get("/v1/admin/destinations", headers=ADMIN).get_json()
        assert stats["ingest"] == {"accepted": 1, "rejected": 0, "duplicate": 0, "suppressed": 0}
        assert stats["destinations"][0]["dead_letters"] == 1 and stats["destinations"][0]["dead_lettered"] == 1
        (dead,) = client.get("/v1/admin/dead-letters/hook", headers=ADMIN).get_json()["dead_letters"]
        assert dead["reason"] == "webhook answered 422" and dead["response"] == '{"error": "no such list"}'
        assert "hook-secret-1234" not in str(dead)
        assert not {"u", "r"} & set(dead) and isinstance(dead["received_at"], int)
        state["ok"] = True
        r = client.post("/v1/admin/dead-letters/hook/replay", json={"entry_ids": [dead["entry_id"]]}, headers=ADMIN)
        assert r.get_json() == {"success": True, "replayed": 1, "not_found": []}
        work(rt)
        assert hook.requests[-1].json()["messageId"] == "m1"
        assert client.get("/v1/admin/dead-letters/nope", headers=ADMIN).status_code == 404


def test_ingest_rejections_are_listed_for_the_operator(make_runtime, client_for):
    client = client_for(make_runtime())
    client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [{"type": "track", "userId": "u"}]})
    (rej,) = client.get("/v1/admin/rejected?limit=lots", headers=ADMIN).get_json()["rejected"]
    assert rej["errors"] == [{"path": "event", "message": "a track call needs an event name"}]
    assert rej["event"] == {"type": "track", "userId": "u"}
    assert "u" not in rej and isinstance(rej["received_at"], int)


def test_the_dashboard_page_asks_for_the_token_and_embeds_no_secret(make_runtime, client_for):
    r = client_for(make_runtime()).get("/dashboard")
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "<title>eventrouter — deliveries</title>" in page
    assert 'id="token"' in page and 'action="/dashboard/login"' in page
    assert "admin-secret-token" not in page


def test_an_operator_sees_why_an_event_is_still_waiting(make_runtime, client_for):
    with FakeServer(lambda req: Reply(503, "maintenance until noon")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)], delivery={"retry_base": "60s"})
        client = client_for(rt)
        client.post("/v1/track", json={"writeKey": WRITE_KEY, "userId": "u", "event": "e", "messageId": "m1"})
        work(rt)
        (waiting,) = client.get("/v1/admin/retrying/hook", headers=ADMIN).get_json()["retrying"]
        assert (waiting["id"], waiting["attempts"], waiting["last_error"]) == ("m1", 1, "webhook answered 503")
        assert waiting["event"]["messageId"] == "m1"
        assert waiting["next_attempt_at"] > waiting["first_attempt_at"]


def test_replaying_dead_letters_that_are_no_longer_there_says_which(make_runtime, client_for):
    with FakeServer(lambda req: Reply(422, "no")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client = client_for(rt)
        for mid in ("m1", "m2"):
            client.post("/v1/track", json={"writeKey": WRITE_KEY, "userId": "u", "event": "e", "messageId": mid})
        work(rt)
        (gone, _), (kept, _) = rt.queue.dead_letters("hook")
        assert client.post("/v1/admin/dead-letters/hook/discard", json={"entry_ids": [gone]}, headers=ADMIN).get_json()["discarded"] == 1
        r = client.post("/v1/admin/dead-letters/hook/replay", json={"entry_ids": [gone, kept, "1-0"]}, headers=ADMIN)
        assert r.get_json() == {"success": True, "replayed": 1, "not_found": sorted([gone, "1-0"])}
        assert client.post("/v1/admin/dead-letters/hook/replay", json={"entry_ids": [kept]}, headers=ADMIN).get_json() == {
            "success": True, "replayed": 0, "not_found": [kept]}
        assert rt.queue.depth("hook")["buffered"] == 1


def test_dead_letters_page_through_with_next_without_skipping_or_repeating_one(make_runtime, client_for):
    with FakeServer(lambda req: Reply(422, "no")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client = client_for(rt)
        client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [
            {"type": "track", "userId": "u", "event": "e", "messageId": f"m{i}"} for i in range(5)]})
        work(rt)
        seen, query = [], "limit=2"
        for _ in range(5):
            page = client.get(f"/v1/admin/dead-letters/hook?{query}", headers=ADMIN).get_json()
            seen += [d["entry_id"] for d in page["dead_letters"]]
            if not page.get("next"):
                break
            query = f"limit=2&before={page['next']}"
        assert seen == [eid for eid, _ in rt.queue.dead_letters("hook", newest_first=True)] and len(seen) == 5
        assert client.get("/v1/admin/dead-letters/hook?before=nope", headers=ADMIN).status_code == 400


def test_replaying_entry_ids_redis_would_refuse_is_a_400_not_a_storage_error(make_runtime, client_for):
    client = client_for(make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")]))
    ids = ["99999999999999999999-0", "1-0\n", "١-٠"]  # Arabic-Indic digits: \d to Python, not to Redis
    for bad in ids:
        r = client.post("/v1/admin/dead-letters/hook/replay", json={"entry_ids": [bad]}, headers=ADMIN)
        assert r.status_code == 400 and r.get_json()["errors"][0]["message"] == "not a dead letter entry id"


def test_entry_ids_in_digits_redis_does_not_read_are_a_4xx_not_a_storage_error(make_runtime, client_for):
    client = client_for(make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")]))
    r = client.get("/v1/admin/dead-letters/hook/١-٠", headers=ADMIN)
    assert r.status_code == 404 and r.get_json()["errors"][0]["message"] == "no dead letter ١-٠ at hook"
    r = client.get("/v1/admin/dead-letters/hook?before=١-٠", headers=ADMIN)
    assert r.status_code == 400 and r.get_json()["errors"][0]["path"] == "before"
    r = client.post("/v1/admin/dead-letters/hook/discard", json={"entry_ids": ["١-٠"]}, headers=ADMIN)
    assert r.status_code == 400 and "not a dead letter's entry id" in r.get_json()["errors"][0]["message"]


def test_the_page_before_the_first_possible_entry_id_is_empty(make_runtime, client_for):
    client = client_for(make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")]))
    for before in ("0-0", "00-000"):
        r = client.get(f"/v1/admin/dead-letters/hook?before={before}", headers=ADMIN)
        assert (r.status_code, r.get_json()) == (200, {"destination": "hook", "dead_letters": [], "next": None})
