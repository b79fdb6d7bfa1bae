"""Event trace: received when, routed where and why (not), each attempt, by messageId or userId."""
from __future__ import annotations

import json

from click.testing import CliRunner
import yaml

from router.cli import main
from destinations.base import Outcome, OutcomeStatus
from router.envelopes import user_hash
from tests.fakes.http import FakeServer, Reply
from tests.helpers import WRITE_KEY, base_config, webhook_destination, work

ADMIN = {"Authorization": "Bearer admin-secret-token"}


def track(mid: str, user: str = "u1", **extra) -> dict:
    return {"type": "track", "userId": user, "event": "Order Completed", "messageId": mid, **extra}


def trace_of(client, **query) -> list[dict]:
    r = client.get("/v1/admin/trace", query_string=query, headers=ADMIN)
    assert r.status_code == 200, r.get_json()
    return r.get_json()["traces"]


def test_a_trace_shows_where_an_event_went_why_not_elsewhere_and_each_attempt(make_runtime, client_for):
    answers = iter([Reply(503, "down")])
    with FakeServer(lambda req: next(answers, Reply(200, {}))) as hook:
        rt = make_runtime(delivery={"retry_base": "10ms", "retry_max": "10ms"}, destinations=[
            webhook_destination(hook.base_url),
            webhook_destination(hook.base_url, name="ids", subscribe=["identify"]),
            webhook_destination(hook.base_url, name="picky", events={"only": ["Signed Up"]}),
            webhook_destination(hook.base_url, name="muted"),
        ])
        client = client_for(rt)
        client.post("/v1/track", json={"writeKey": WRITE_KEY, **track("m1", integrations={"muted": False})})
        for _ in range(20):
            work(rt)
            if rt.queue.depth("hook").get("delivered"):
                break
        (t,) = trace_of(client, messageId="m1")
    assert t["messageId"] == "m1" and t["destinations"] == {"hook": "delivered"}
    received, failed, delivered = t["entries"]
    assert received["kind"] == "received" and received["source"] == "website" and received["status"] == "accepted"
    assert received["to"] == ["hook"]
    assert received["not"] == {"ids": "not subscribed to track", "picky": "events.only does not list 'Order Completed'",
                               "muted": "integrations['muted'] is false"}
    assert t["received_at"] == received["at"]
    assert {k: failed[k] for k in ("kind", "destination", "outcome", "reason", "status", "attempt", "final")} == {
        "kind": "attempt", "destination": "hook", "outcome": "retry", "reason": "webhook answered 503",
        "status": 503, "attempt": 1, "final": False}
    assert (delivered["outcome"], delivered["attempt"], delivered["final"]) == ("delivered", 2, True)
    assert delivered["at"] >= failed["at"] >= received["at"]


def test_a_duplicate_and_a_dead_letter_show_in_the_trace(make_runtime, client_for):
    with FakeServer(lambda req: Reply(422, "no such list")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client = client_for(rt)
        client.post("/v1/track", json={"writeKey": WRITE_KEY, **track("m1")})
        client.post("/v1/track", json={"writeKey": WRITE_KEY, **track("m1")})
        work(rt)
        (t,) = trace_of(client, messageId="m1")
    assert [e.get("status") if e["kind"] == "received" else e["outcome"] for e in t["entries"]] == ["accepted", "duplicate", "rejected"]
    assert t["destinations"] == {"hook": "dead letter"}



def test_a_replayed_dead_letter_shows_in_its_trace_as_replayed_and_waiting_until_its_next_attempt(make_runtime, client_for):
    state = {"ok": False}
    with FakeServer(lambda req: Reply(200, {}) if state["ok"] else Reply(422, "no such list")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client = client_for(rt)
        client.post("/v1/track", json={"writeKey": WRITE_KEY, **track("m1")})
        work(rt)
        state["ok"] = True
        assert client.post("/v1/admin/dead-letters/hook/replay", json={}, headers=ADMIN).get_json()["replayed"] == 1
        (t,) = trace_of(client, messageId="m1")
        assert [e["kind"] for e in t["entries"]] == ["received", "attempt", "replayed"]
        assert t["entries"][-1]["destination"] == "hook" and t["destinations"] == {"hook": "waiting"}
        work(rt)
        (t,) = trace_of(client, messageId="m1")
    assert [e["kind"] for e in t["entries"]] == ["received", "attempt", "replayed", "attempt"]
    assert t["destinations"] == {"hook": "delivered"}

def test_a_users_latest_events_are_found_by_user_id_without_keeping_the_id(make_runtime, client_for):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")])
    client = client_for(rt)
    client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [track("a", "alice"), track("b", "bob"), track("c", "alice")]})
    assert [t["messageId"] for t in trace_of(client, userId="alice")] in (["c", "a"], ["a", "c"])
    assert [t["messageId"] for t in trace_of(client, userId="alice", limit=1)] in (["c"], ["a"])
    assert trace_of(client, userId="nobody") == []
    ns = rt.config.namespace
    index = rt.redis.zrange(f"{ns}:tu:{user_hash('alice')}", 0, -1)
    assert sorted(index) == [b"a", b"c"]
    index += rt.redis.lrange(f"{ns}:trring", 0, -1)
    assert not any(b"alice" in k for k in rt.redis.scan_iter(f"{ns}:t*")) and not any(b"alice" in m for m in index)
    assert client.get("/v1/admin/trace", headers=ADMIN).status_code == 400
    assert client.get("/v1/admin/trace?messageId=a").status_code == 401


def test_traces_are_bounded_and_expire_with_the_dedup_window(make_runtime, client_for):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")], trace={"max_events": 3}, dedup_ttl="1h")
    client = client_for(rt)
    client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [track(f"m{i}") for i in range(5)]})
    assert [bool(trace_of(client, messageId=f"m{i}")) for i in range(5)] == [False, False, True, True, True]
    assert 3500 <= rt.redis.ttl(f"{rt.config.namespace}:trace:m4") <= 3600
    assert rt.redis.llen(f"{rt.config.namespace}:trring") == 3


def test_no_traces_when_turned_off(make_runtime, client_for):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")], trace={"max_events": 0})
    client = client_for(rt)
    client.post("/v1/track", json={"writeKey": WRITE_KEY, **track("m1")})
    assert trace_of(client, messageId="m1") == [] and rt.queue.depth("hook")["buffered"] == 1


def test_deleting_a_user_drops_their_traces(make_runtime, client_for):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")])
    client = client_for(rt)
    client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [track("a", "alice"), track("b", "bob")]})
    r = client.post("/v1/regulations", json={"regulationType": "DELETE_ONLY", "subjectType": "USER_ID", "subjectIds": ["alice"]},
                    headers=ADMIN)
    assert r.status_code in (200, 201, 202), r.get_json()
    assert trace_of(client, messageId="a") == [] and trace_of(client, userId="alice") == []
    assert [t["messageId"] for t in trace_of(client, messageId="b")] == ["b"]


def test_eventrouter_trace_prints_the_trace(redis_url, tmp_path, make_runtime, client_for):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")])
    client_for(rt).post("/v1/track", json={"writeKey": WRITE_KEY, **track("m1")})
    cfg = base_config(redis_url=redis_url, namespace=rt.config.namespace, destinations=[webhook_destination("http://127.0.0.1:9/")])
    (tmp_path / "er.yaml").write_text(yaml.safe_dump(cfg))
    env = {"EVENTROUTER_CONFIG": str(tmp_path / "er.yaml"), "REDIS_URL": redis_url}
    out = CliRunner().invoke(main, ["trace", "--message-id", "m1"], env=env)
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["destinations"] == {"hook": "waiting"}
    missing = CliRunner().invoke(main, ["trace", "--message-id", "nope"], env=env)
    assert missing.exit_code == 1 and "no trace found" in missing.output


def test_a_users_event_is_found_by_user_id_when_another_source_sent_that_message_id_first(make_runtime, client_for):
    sources = [{"name": "website", "write_keys": [WRITE_KEY]}, {"name": "app", "write_keys": ["other-key"]}]
    rt = make_runtime(sources=sources, destinations=[webhook_destination("http://127.0.0.1:9/")])
    client = client_for(rt)
    client.post("/v1/track", json={"writeKey": WRITE_KEY, **track("m1", "alice")})
    answer = client.post("/v1/batch", json={"writeKey": "other-key", "batch": [track("m1", "bob")]}).get_json()
    assert answer["accepted"] == 1  # dedup is per source
    assert [t["messageId"] for t in trace_of(client, userId="bob")] == ["m1"]
    (t,) = trace_of(client, messageId="m1")
    assert [e["source"] for e in t["entries"]] == ["website", "app"]


def test_an_event_whose_retries_ran_out_shows_as_a_dead_letter_not_retrying(make_runtime, client_for):
    with FakeServer(lambda req: Reply(503, "down")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, retry_window="0s")])
        client = client_for(rt)
        client.post("/v1/track", json={"writeKey": WRITE_KEY, **track("m1")})
        work(rt)
        (t,) = trace_of(client, messageId="m1")
        assert rt.queue.dead_letters("hook")[0][1]["reason"] == "gave up after 1 attempts over 0s: webhook answered 503"
    assert [(e["outcome"], e["final"]) for e in t["entries"] if e["kind"] == "attempt"] == [("retry", True)]
    assert t["destinations"] == {"hook": "dead letter"}


def test_an_attempt_whose_handling_crashed_joins_the_trace_and_a_give_up_shows_as_a_dead_letter(make_runtime, client_for):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9"),
                                    webhook_destination("http://127.0.0.1:9", name="brief", retry_window="0s")])
    for name in ("hook", "brief"):  # a plugin's outcome the drainer cannot handle (a text Retry-After)
        rt.build(name).send = lambda batch: [Outcome(OutcomeStatus.RETRY, "later", 503, retry_after="soon",
                                                     counts_as_attempt=False)] * len(batch)
    client = client_for(rt)
    client.post("/v1/track", json={"writeKey": WRITE_KEY, **track("m1")})
    work(rt)
    (t,) = trace_of(client, messageId="m1")
    attempts = sorted(({k: e[k] for k in ("destination", "outcome", "reason", "status", "attempt", "final")}
                       for e in t["entries"] if e["kind"] == "attempt"), key=lambda e: e["destination"])
    assert attempts == [
        {"destination": "brief", "outcome": "retry", "reason": "delivery failed: TypeError", "status": None, "attempt": 1, "final": True},
        {"destination": "hook", "outcome": "retry", "reason": "delivery failed: TypeError", "status": None, "attempt": 1, "final": False},
    ]
    assert t["destinations"] == {"hook": "retrying", "brief": "dead letter"}


def test_a_users_events_sent_in_one_batch_are_found_newest_first(make_runtime, client_for):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")])
    client = client_for(rt)
    sent = ["m-c", "m-a", "m-d", "m-b"]  # the order they happened in, as a client library batches them
    client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [track(m, "alice") for m in sent]})
    assert [t["messageId"] for t in trace_of(client, userId="alice")] == ["m-b", "m-d", "m-a", "m-c"]
    assert [t["messageId"] for t in trace_of(client, userId="alice", limit=1)] == ["m-b"]
