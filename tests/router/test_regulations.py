"""GDPR: deletes reach every destination, the router forgets the user, suppression holds."""
from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from destinations import registry
from destinations.webhook import WebhookDestination
from tests.fakes.http import FakeServer, Reply
from tests.helpers import WRITE_KEY, webhook_destination, work

ADMIN = {"Authorization": "Bearer admin-secret-token"}


class NoDelete(WebhookDestination):
    """A destination whose vendor has no delete API."""

    slug = "nodelete"
    display_name = "No Delete"
    handles = frozenset({"identify", "track"})


@pytest.fixture
def nodelete(monkeypatch):
    """A plugin that cannot delete, registered for this test only (the registry reads its list once)."""
    monkeypatch.setitem(registry.BUILTIN, "nodelete", "tests.router.test_regulations:NoDelete")
    registry.sources.cache_clear()
    yield
    monkeypatch.undo()
    registry.sources.cache_clear()


def track(user: str, i: int) -> dict:
    return {"type": "track", "userId": user, "event": "Viewed", "messageId": f"{user}-{i}"}


def regulation(client, kind: str, ids: list[str]) -> str:
    r = client.post("/v1/regulations", json={"regulationType": kind, "subjectType": "USER_ID", "subjectIds": ids},
                    headers=ADMIN)
    assert r.status_code == 200, r.get_json()
    return r.get_json()["regulateId"]


def delivered_deletes(hook: FakeServer) -> list[str]:
    return [r.json()["userId"] for r in hook.requests if r.json()["type"] == "delete"]


@pytest.mark.parametrize("way_in", ["batch", "b", "webhook", "regulations"])
def test_every_way_in_deletes_the_user_at_each_destination_and_forgets_their_queued_events(
    make_runtime, client_for, way_in
):
    with FakeServer() as a, FakeServer() as b:
        rt = make_runtime(destinations=[webhook_destination(a.base_url, name="a"),
                                        webhook_destination(b.base_url, name="b")])
        client = client_for(rt)
        client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [track("gone", 1), track("stays", 1)]})
        delete = {"type": "delete", "userId": "gone", "messageId": "del-1", "context": None, "integrations": []}
        if way_in == "regulations":
            reg_id = regulation(client, "DELETE_ONLY", ["gone"])
        elif way_in == "webhook":
            body = json.dumps(delete).encode()
            sig = hmac.new(b"whsec-test", body, hashlib.sha1).hexdigest()
            assert client.post("/v1/webhook", data=body, headers={"X-Signature": sig, "Content-Type": "application/json"}).status_code == 200
            reg_id = "del-del-1"
        else:
            assert client.post(f"/v1/{way_in}", json={"writeKey": WRITE_KEY, "batch": [delete]}).get_json()["accepted"] == 1
            reg_id = "del-del-1"
        work(rt)
        for hook in (a, b):
            assert delivered_deletes(hook) == ["gone"]
            assert [r.json()["userId"] for r in hook.requests if r.json()["type"] == "track"] == ["stays"]
        status = client.get(f"/v1/regulations/{reg_id}", headers=ADMIN).get_json()
        assert status["status"] == "finished"
        assert status["destinations"] == {d: {"status": "finished", "finished": 1, "failed": 0, "pending": 0} for d in ("a", "b")}


def test_a_delete_removes_the_users_retries_dead_letters_and_rejected_events(make_runtime, client_for):
    with FakeServer(lambda req: Reply(500) if req.json()["event"] == "retry-me" else Reply(400)) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, subscribe=["track"])])
        client = client_for(rt)
        batch = [dict(track("gone", 1), event="retry-me"), dict(track("gone", 2), event="reject-me"),
                 {"type": "track", "userId": "gone"}, dict(track("stays", 1), event="reject-me")]
        client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": batch})
        work(rt)
        depth = rt.queue.depth("hook")
        assert (depth["retrying"], depth["dead_letters"], rt.redis.xlen(rt.queue.keys.rejected)) == (1, 2, 1)
        regulation(client, "DELETE_ONLY", ["gone"])
        depth = rt.queue.depth("hook")
        assert (depth["retrying"], depth["dead_letters"], rt.redis.xlen(rt.queue.keys.rejected)) == (0, 1, 0)
        (_, left), = rt.queue.dead_letters("hook")
        assert left["event"]["userId"] == "stays"


def test_a_batch_of_deletes_forgets_its_users_in_one_pass_over_what_the_router_holds(make_runtime, client_for):
    """A write key is public (browsers send it) and a batch holds 2,500 deletes: each user's forget
    read every buffer, retry set, dead-letter and rejection stream whole, so one such batch kept
    Redis busy for minutes. Its users are forgotten together; each delete is still its regulation."""
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client = client_for(rt)
        client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [track("gone-1", 1), track("stays", 1)]})
        calls = lambda cmd: rt.redis.info("commandstats").get(f"cmdstat_{cmd}", {}).get("calls", 0)  # noqa: E731
        scans, transactions = calls("xrange"), calls("exec")
        deletes = [{"type": "delete", "userId": f"gone-{i}", "messageId": f"del-{i}"} for i in range(50)]
        assert client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": deletes}).get_json()["accepted"] == 50
        assert calls("xrange") - scans == 2  # the ingest rejections and the destination's dead letters, once each
        assert calls("exec") - transactions == 1  # the 50 regulations are recorded in one round trip
        assert rt.redis.zcard(rt.queue.keys.regulations) == 50
        work(rt)
        assert [r.json()["userId"] for r in hook.requests if r.json()["type"] == "track"] == ["stays"]
        assert sorted(delivered_deletes(hook)) == sorted(f"gone-{i}" for i in range(50))


def test_a_drainer_whose_claim_did_not_look_its_users_up_asks_before_sending(make_runtime, client_for):
    """Drainer.run hands ``process`` its claim, whose delete times were read with it
    (tests/router/test_gdpr_race.py); without them, the drainer asks Redis itself."""
    from router.delivery import Drainer

    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client = client_for(rt)
        client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [track("gone", 1), track("stays", 1)]})
        claimed = rt.queue.claim("hook", "tok", "b1", 100, 1)  # a worker holds the batch in memory...
        regulation(client, "DELETE_ONLY", ["gone"])          # ...when the delete arrives
        settlement, _ = Drainer(rt, "hook", "tok").process(claimed.items)
        assert settlement.counts == {"delivered": 1, "forgotten": 1}
        assert [r.json()["userId"] for r in hook.requests] == ["stays"]


def test_suppressed_users_are_dropped_at_ingest_until_unsuppressed(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client = client_for(rt)
        regulation(client, "SUPPRESS_ONLY", ["quiet"])
        r = client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [track("quiet", 1), track("loud", 1)]})
        assert r.status_code == 200 and (r.get_json()["accepted"], r.get_json()["suppressed"]) == (1, 1)
        assert client.post("/v1/track", json={"writeKey": WRITE_KEY, **track("quiet", 2)}).status_code == 200
        regulation(client, "UNSUPPRESS", ["quiet"])
        client.post("/v1/track", json={"writeKey": WRITE_KEY, **track("quiet", 3)})
        work(rt)
        assert [r.json()["messageId"] for r in hook.requests] == ["loud-1", "quiet-3"]
        assert delivered_deletes(hook) == []  # SUPPRESS_ONLY deletes nothing


def test_suppress_with_delete_both_deletes_and_suppresses(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client = client_for(rt)
        regulation(client, "SUPPRESS_WITH_DELETE", ["u1"])
        client.post("/v1/track", json={"writeKey": WRITE_KEY, **track("u1", 1)})
        work(rt)
        assert [r.json()["type"] for r in hook.requests] == ["delete"]


def test_five_thousand_ids_in_one_request_each_get_a_delete(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, settings={"batch": True}, batch_size=500)])
        client = client_for(rt)
        ids = [f"user-{i}" for i in range(5000)]
        started = time.monotonic()
        reg_id = regulation(client, "DELETE_ONLY", ids)
        assert time.monotonic() - started < 10
        work(rt)
        assert sorted(e["userId"] for r in hook.requests for e in r.json()) == sorted(ids)
        status = client.get(f"/v1/regulations/{reg_id}", headers=ADMIN).get_json()
        assert status["subjects"] == 5000 and status["destinations"]["hook"]["finished"] == 5000
        record = rt.redis.hgetall(rt.queue.keys.regulation(reg_id))
        assert b"user-1" not in b"".join(list(record.keys()) + list(record.values()))  # hashes, not ids


def test_more_than_five_thousand_ids_or_a_bad_type_is_400(make_runtime, client_for):
    client = client_for(make_runtime())
    r = client.post("/v1/regulations", json={"regulationType": "DELETE_ONLY", "subjectType": "USER_ID",
                                             "subjectIds": [str(i) for i in range(5001)]}, headers=ADMIN)
    assert r.status_code == 400 and r.get_json()["errors"][0]["path"] == "subjectIds"
    r = client.post("/v1/regulations", json={"regulationType": "FORGET", "subjectType": "USER_ID", "subjectIds": ["x"]},
                    headers=ADMIN)
    assert r.status_code == 400 and r.get_json()["errors"][0]["path"] == "regulationType"
    assert client.post("/v1/regulations", json={}).status_code == 401


def test_status_shows_a_failing_destination_then_its_recovery_and_one_that_cannot_delete(
    make_runtime, client_for, nodelete
):
    state = {"up": False}
    with FakeServer(lambda req: Reply(200) if state["up"] else Reply(503, "maintenance")) as flaky, FakeServer() as ok:
        rt = make_runtime(destinations=[webhook_destination(flaky.base_url, name="flaky"),
                                        webhook_destination(ok.base_url, name="ok"),
                                        {"name": "legacy", "type": "nodelete", "settings": {"url": ok.base_url}}])
        client = client_for(rt)
        reg_id = regulation(client, "DELETE_ONLY", ["u1"])
        work(rt)
        status = client.get(f"/v1/regulations/{reg_id}", headers=ADMIN).get_json()
        assert status["status"] == "pending"
        assert status["destinations"]["flaky"] == {"status": "pending", "finished": 0, "failed": 0, "pending": 1,
                                                   "last_error": "webhook answered 503"}
        assert status["destinations"]["ok"]["status"] == "finished"
        assert status["destinations"]["legacy"] == {"status": "not_supported"}
        state["up"] = True
        deadline = time.monotonic() + 10
        while status["status"] != "finished" and time.monotonic() < deadline:
            time.sleep(0.2)
            work(rt)
            status = client.get(f"/v1/regulations/{reg_id}", headers=ADMIN).get_json()
        assert status["destinations"]["flaky"]["status"] == "finished"
        listed = client.get("/v1/regulations", headers=ADMIN).get_json()["regulations"]
        assert [r["regulateId"] for r in listed] == [reg_id]


def test_a_destination_that_rejects_the_delete_shows_failed_with_the_reason(make_runtime, client_for):
    with FakeServer(lambda req: Reply(403, "forbidden")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client = client_for(rt)
        reg_id = regulation(client, "DELETE_ONLY", ["u1"])
        work(rt)
        status = client.get(f"/v1/regulations/{reg_id}", headers=ADMIN).get_json()
        assert status["status"] == "failed"
        assert status["destinations"]["hook"] == {"status": "failed", "finished": 0, "failed": 1, "pending": 0,
                                                  "reason": "webhook answered 403"}


def test_a_delete_whose_retries_ran_out_shows_failed_with_the_reason_and_a_replay_makes_it_pending_again(
    make_runtime, client_for
):
    with FakeServer(lambda req: Reply(503, "maintenance")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, retry_window="0s")])
        client = client_for(rt)
        reg_id = regulation(client, "DELETE_ONLY", ["u1"])
        work(rt)
        status = client.get(f"/v1/regulations/{reg_id}", headers=ADMIN).get_json()
        ((_, dead),) = rt.queue.dead_letters("hook")
        assert dead["reason"] == "gave up after 1 attempts over 0s: webhook answered 503"
        assert status["status"] == "failed"
        assert status["destinations"]["hook"] == {"status": "failed", "finished": 0, "failed": 1, "pending": 0,
                                                  "reason": dead["reason"]}
        assert client.post("/v1/admin/dead-letters/hook/replay", json={}, headers=ADMIN).get_json()["replayed"] == 1
        status = client.get(f"/v1/regulations/{reg_id}", headers=ADMIN).get_json()
        assert status["destinations"]["hook"] == {"status": "pending", "finished": 0, "failed": 0, "pending": 1}


def test_a_delete_whose_handling_crashed_until_its_retries_ran_out_shows_failed(make_runtime, client_for):
    from destinations.base import Outcome, OutcomeStatus

    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9", retry_window="0s")])
    # a plugin's outcome the drainer cannot handle (a text Retry-After): the batch is retried as a whole
    rt.build("hook").send = lambda batch: [Outcome(OutcomeStatus.RETRY, "later", 503, retry_after="soon",
                                                   counts_as_attempt=False)] * len(batch)
    client = client_for(rt)
    reg_id = regulation(client, "DELETE_ONLY", ["u1"])
    work(rt)
    status = client.get(f"/v1/regulations/{reg_id}", headers=ADMIN).get_json()
    assert status["destinations"]["hook"] == {"status": "failed", "finished": 0, "failed": 1, "pending": 0,
                                              "reason": "gave up after 1 attempts over 0s: delivery failed: TypeError"}


def test_a_suppressed_user_can_still_be_deleted_through_a_delete_call(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client = client_for(rt)
        regulation(client, "SUPPRESS_ONLY", ["quiet"])
        delete = {"type": "delete", "userId": "quiet", "messageId": "del-q"}
        r = client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [delete]})
        assert (r.get_json()["accepted"], r.get_json()["suppressed"]) == (1, 0)
        work(rt)
        assert delivered_deletes(hook) == ["quiet"]


def test_a_delete_whose_first_answer_was_503_after_it_was_stored_forgets_the_user_when_retried(make_runtime, client_for):
    """The delete is stored (and its dedup key set) before the router forgets the user; when that
    second step fails (here a write refused: the regulation's key holds a string), the client gets
    a 503 and retries, and the retry is a duplicate. It must still make the router forget the user."""
    from router.envelopes import user_hash
    from router.queue import now_ms

    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")])
    client = client_for(rt)
    client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [track("gone", 1), track("stays", 1)]})
    delete = {"type": "delete", "userId": "gone", "messageId": "del-1"}
    rt.redis.set(rt.queue.keys.regulation("del-del-1"), "in the way")  # the record's write fails once
    assert client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [delete]}).status_code == 503
    rt.redis.delete(rt.queue.keys.regulation("del-del-1"))
    # the failed transaction's ZADD went through; the client retries hours later (within the dedup window)
    rt.redis.zadd(rt.queue.keys.regulations, {"del-del-1": now_ms() - 23 * 3600_000})
    retried = client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [delete]})
    assert (retried.status_code, retried.get_json()["duplicates"]) == (200, 1)
    # the user's key now lives a day: CLAIM looks users up for a day after the newest regulation
    assert rt.redis.zscore(rt.queue.keys.regulations, "del-del-1") > now_ms() - 60_000
    waiting = [json.loads(e)["e"] for e in rt.redis.lrange(rt.queue.keys.buf("hook"), 0, -1)]
    assert [(e["type"], e["userId"]) for e in waiting] == [("track", "stays"), ("delete", "gone")]
    assert rt.redis.exists(rt.queue.keys.forgotten(user_hash("gone")))
    status = client.get("/v1/regulations/del-del-1", headers=ADMIN).get_json()
    assert status["destinations"]["hook"]["status"] == "pending"


def test_a_delete_answered_503_for_want_of_a_replica_forgets_the_user_all_the_same(make_runtime, client_for):
    """durability: replicated. The delete is on the master (it is delivered); so is the user's
    older event, which must not be delivered after it while the client retries."""
    rt = make_runtime(durability="replicated", replica_wait="20ms",
                      destinations=[webhook_destination("http://127.0.0.1:9/")])
    client = client_for(rt)
    client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [track("gone", 1), track("stays", 1)]})
    delete = {"type": "delete", "userId": "gone", "messageId": "del-1"}
    assert client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [delete]}).status_code == 503
    waiting = [json.loads(e)["e"] for e in rt.redis.lrange(rt.queue.keys.buf("hook"), 0, -1)]
    assert [(e["type"], e["userId"]) for e in waiting] == [("track", "stays"), ("delete", "gone")]


def test_a_delete_removes_the_users_records_also_when_a_secret_is_part_of_their_hash(make_runtime, client_for):
    """Dead letters and ingest rejections are redacted as text: a secret of a few hex digits (every
    extra header's value counts as one) inside a user's hash made it unreadable, and neither the
    delete's purge nor SETTLE knew the record was the user's."""
    from router.envelopes import user_hash

    with FakeServer(lambda req: Reply(400)) as hook:
        tenant = user_hash("gone")[10:16]
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, settings={"headers": {"X-Tenant": tenant}})])
        client = client_for(rt)
        client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [track("gone", 1), {"type": "track", "userId": "gone"}]})
        work(rt)
        assert (len(rt.queue.dead_letters("hook")), rt.redis.xlen(rt.queue.keys.rejected)) == (1, 1)
        regulation(client, "DELETE_ONLY", ["gone"])
        assert (len(rt.queue.dead_letters("hook")), rt.redis.xlen(rt.queue.keys.rejected)) == (0, 0)


def test_a_delete_delivered_before_the_web_process_recorded_it_shows_finished(make_runtime):
    """Ingest wakes the drainers before it records the delete's regulation: a worker quick enough
    counts the delivery first, and the record must add to that count, not reset it to pending."""
    from router.envelopes import envelope
    from router.queue import now_ms
    from router.regulations import record_regulation, regulation_status

    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        delete = {"type": "delete", "userId": "u1", "messageId": "m1", "context": {}, "integrations": {}}
        rt.wake([("hook", rt.queue.push("hook", [envelope(delete, "m1", now_ms(), "del-m1")]))])
        work(rt)
        assert [r.json()["type"] for r in hook.requests] == ["delete"]
    record_regulation(rt, "del-m1", "DELETE_ONLY", ["h"], ["hook"], [])
    status = regulation_status(rt, "del-m1")
    assert (status["status"], status["destinations"]["hook"]) == (
        "finished", {"status": "finished", "finished": 1, "failed": 0, "pending": 0})


def test_a_rejected_delete_replayed_once_the_destination_is_fixed_shows_finished(make_runtime, client_for):
    state = {"fixed": False}
    with FakeServer(lambda req: Reply(200, {}) if state["fixed"] else Reply(403, "forbidden")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client = client_for(rt)
        reg_id = regulation(client, "DELETE_ONLY", ["u1"])
        work(rt)
        assert client.get(f"/v1/regulations/{reg_id}", headers=ADMIN).get_json()["status"] == "failed"
        state["fixed"] = True
        assert client.post("/v1/admin/dead-letters/hook/replay", json={}, headers=ADMIN).get_json()["replayed"] == 1
        assert client.get(f"/v1/regulations/{reg_id}", headers=ADMIN).get_json()["status"] == "pending"
        work(rt)
        status = client.get(f"/v1/regulations/{reg_id}", headers=ADMIN).get_json()
    assert delivered_deletes(hook) == ["u1", "u1"]  # refused, then delivered
    assert status["status"] == "finished"
    assert status["destinations"]["hook"] == {"status": "finished", "finished": 1, "failed": 0, "pending": 0}


def test_a_session_credential_the_vendor_quotes_refusing_a_delete_is_redacted_from_the_regulation(make_runtime, client_for):
    def vendor(req):
        return Reply(400, {"error": "bad credentials " + req.headers["Authorization"]})

    with FakeServer(vendor) as hook:
        rt = make_runtime(destinations=[{"name": "cb", "type": "custobar", "settings": {
            "base_url": hook.base_url, "username": "shop", "password": "pa55word-xyz"}}])
        client = client_for(rt)
        reg_id = regulation(client, "DELETE_ONLY", ["u1"])
        work(rt)
        encoded = hook.requests[0].headers["Authorization"].split(" ")[1]  # base64 of shop:pa55word-xyz
        answer = client.get(f"/v1/regulations/{reg_id}", headers=ADMIN)
        assert encoded not in answer.get_data(as_text=True)
        assert answer.get_json()["destinations"]["cb"]["reason"].endswith("bad credentials [redacted]")


def test_a_delete_delivered_or_retried_before_its_regulation_is_recorded_is_not_found_yet_rather_than_a_500(
        make_runtime, client_for):
    """Ingest wakes the drainers before it records the regulation (and a request that failed after
    storing the delete records none): a worker may count an outcome on a record that isn't there yet."""
    from router.envelopes import envelope
    from router.queue import now_ms

    with FakeServer(lambda req: Reply(200, {}) if req.json()["userId"] == "u1" else Reply(503, "busy")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        deletes = [{"type": "delete", "userId": u, "messageId": m, "context": {}, "integrations": {}}
                   for u, m in (("u1", "m1"), ("u2", "m2"))]
        envs = [envelope(d, d["messageId"], now_ms(), f"del-{d['messageId']}") for d in deletes]
        rt.wake([("hook", rt.queue.push("hook", envs))])
        work(rt)
        assert sorted(r.json()["userId"] for r in hook.requests) == ["u1", "u2"]
    client = client_for(rt)
    for reg_id in ("del-m1", "del-m2"):  # delivered: counted; retrying: its last error noted
        r = client.get(f"/v1/regulations/{reg_id}", headers=ADMIN)
        assert (r.status_code, r.get_json()) == (404, {"success": False, "errors": [
            {"path": "regulateId", "message": "no such regulation"}]})
    assert client.get("/v1/regulations", headers=ADMIN).get_json() == {"regulations": []}
