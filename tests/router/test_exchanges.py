"""Vendor exchanges as stored with dead letters and the delivery sample: redacted and bounded."""
from __future__ import annotations

import base64
import json

from router.exchanges import TOTAL_LIMIT, credentials, scrubber, stored
from router.redact import Redactor
from tests.fakes.http import FakeServer, Reply
from tests.helpers import WRITE_KEY, webhook_destination, work


def exchange(i: int, body: str = "") -> dict:
    return {"method": "POST", "url": f"http://127.0.0.1/{i}", "headers": {"Content-Type": "text/plain"}, "body": body,
            "response": {"status": 200, "headers": {}, "body": ""}}


def test_credentials_of_a_request_include_the_basic_pair_and_password_and_the_bearer_token():
    basic = "Basic " + base64.b64encode(b"shop:pa55word").decode()
    got = credentials({"Authorization": basic, "X-Api-Key": "Token t-1", "Accept": "*/*"})
    assert got == [basic, basic[6:], "shop:pa55word", "pa55word", "Token t-1", "t-1"]


def test_the_stored_exchanges_keep_the_newest_within_the_total_bound_and_say_how_many_were_left_out():
    many = [exchange(i, "b" * 4096) for i in range(6)]
    kept = stored(many, Redactor([]))
    assert [x["url"] for x in kept["exchanges"]] == ["http://127.0.0.1/3", "http://127.0.0.1/4", "http://127.0.0.1/5"]
    assert kept["exchanges_left_out"] == 3
    assert len(json.dumps(kept["exchanges"])) <= TOTAL_LIMIT
    assert stored([exchange(1)], Redactor([])) == {"exchanges": [exchange(1)]}
    assert stored(None, Redactor([])) == {} and stored([], Redactor([])) == {}


def test_a_url_encoded_credential_is_redacted_from_the_url_too():
    x = {**exchange(1), "url": "http://127.0.0.1/in?key=a%2Fb%2Bc", "headers": {"X-Api-Key": "a/b+c"}}
    (clean,) = stored([x], scrubber([x], Redactor([])))["exchanges"]
    assert clean["url"] == "http://127.0.0.1/in?key=[redacted]" and clean["headers"]["X-Api-Key"] == "[redacted]"


def test_a_dead_letter_of_a_huge_event_stores_a_bounded_request_and_response(make_runtime):
    with FakeServer(lambda req: Reply(422, "n" * 50_000)) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        rt.enqueue("hook", [{"type": "track", "userId": "u1", "event": "Big", "messageId": "big-1",
                             "properties": {"blob": "p" * 30_000}}])
        work(rt)
        ((_, rec),) = rt.queue.dead_letters("hook")
        (x,) = rec["exchanges"]
        wire = hook.requests[0].body
        assert x["body"] == wire[:4096].decode() + f"... [{len(wire) - 4096} more bytes]"
        assert x["response"]["body"] == "n" * 4096 + "... [45904 more bytes]"
        assert len(json.dumps(rec["exchanges"])) <= TOTAL_LIMIT


def test_a_gdpr_delete_empties_the_recent_deliveries_that_may_hold_the_users_events(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client = client_for(rt)
        client.post("/v1/track", json={"writeKey": WRITE_KEY, "type": "track", "userId": "gone", "event": "E"})
        work(rt)
        assert rt.redis.llen(rt.queue.keys.sample("hook")) == 1
        r = client.post("/v1/regulations", json={"regulationType": "DELETE_ONLY", "subjectType": "USER_ID",
                                                 "subjectIds": ["gone"]}, headers={"Authorization": "Bearer admin-secret-token"})
        assert r.status_code == 200
        assert rt.redis.llen(rt.queue.keys.sample("hook")) == 0


def test_a_request_that_carried_several_peoples_events_is_kept_without_its_bodies(make_runtime):
    with FakeServer(lambda req: Reply(422, {"refused": "ada@example.com"})) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, settings={"batch": True})])
        rt.enqueue("hook", [{"type": "track", "userId": "ada", "event": "A", "messageId": "m-ada"},
                            {"type": "track", "userId": "bob", "event": "B", "messageId": "m-bob"}])
        work(rt)
        dead = [rec for _, rec in rt.queue.dead_letters("hook")]
        assert len(hook.requests) == 1 and len(dead) == 2
        note = "[not kept: this request carried the events of 2 people; this event's part is the payload]"
        for rec in dead:
            (x,) = rec["exchanges"]
            assert (x["method"], x["body"], x["response"]["status"], x["response"]["body"]) == ("POST", note, 422, note)
        assert "m-ada" not in json.dumps(dead[1]["exchanges"]) and "ada@example.com" not in json.dumps(dead[1]["exchanges"])


def test_a_dead_letter_of_a_shared_request_keeps_no_response_excerpt_naming_the_others(make_runtime):
    """The vendor's answer to a batch may quote every record of it: bob's dead letter must not keep
    ada's address, which a GDPR delete of ada could not reach there. Its reason stays."""
    with FakeServer(lambda req: Reply(422, {"refused": "ada@example.com"})) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, settings={"batch": True})])
        rt.enqueue("hook", [{"type": "track", "userId": "ada", "event": "A", "messageId": "m-ada"},
                            {"type": "track", "userId": "bob", "event": "B", "messageId": "m-bob"}])
        work(rt)
        dead = {rec["event"]["userId"]: rec for _, rec in rt.queue.dead_letters("hook")}
        note = "[not kept: this request carried the events of 2 people; this event's part is the payload]"
        assert (dead["bob"]["response"], dead["bob"]["status"]) == (note, 422)
        assert dead["bob"]["reason"] and "ada@example.com" not in json.dumps(dead["bob"])


def test_a_dead_letter_of_ones_own_request_keeps_the_response_excerpt(make_runtime):
    with FakeServer(lambda req: Reply(422, {"refused": "ada@example.com"})) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, settings={"batch": True})])
        rt.enqueue("hook", [{"type": "track", "userId": "ada", "event": "A", "messageId": "m-ada"}])
        work(rt)
        ((_, rec),) = rt.queue.dead_letters("hook")
        assert json.loads(rec["response"]) == {"refused": "ada@example.com"}
