"""Filters and transforms through the real path: ingest -> Redis -> worker -> a fake vendor over HTTP."""
from __future__ import annotations

import json

import pytest

from router.config import parse_config
from router.errors import ConfigError
from router.trace import search
from tests.fakes.http import FakeServer, Reply
from tests.helpers import base_config, webhook_destination, work

AUTH = {"Authorization": "Basic dGVzdC13cml0ZS1rZXk6"}  # base64("test-write-key:")
T = "tests.router.transform_examples:"


def track(mid: str, event: str = "Order Completed", user: str = "u1", **props):
    return {"type": "track", "userId": user, "event": event, "messageId": mid, "properties": props}


def send(client, events):
    r = client.post("/v1/batch", json={"batch": events}, headers=AUTH)
    assert r.status_code == 200 and r.get_json()["accepted"] == len(events), r.get_json()


FILTERS = [
    {"if": {"event": {"equals": "Internal Ping"}}, "then": "drop"},
    {"then": {"drop_properties": ["ssn"]}},
]


def test_a_filtered_event_is_counted_and_its_trace_names_the_rule(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, filters=FILTERS)])
        send(client_for(rt), [track("m1", "Internal Ping"), track("m2", plan="pro", ssn="123-45-6789")])
        work(rt)
        (req,) = hook.requests
        assert req.json()["messageId"] == "m2" and req.json()["properties"] == {"plan": "pro"}
        depth = rt.queue.depth("hook")
        assert (depth["delivered"], depth["filtered"], depth.get("skipped", 0), depth["dead_letters"]) == (1, 1, 0, 0)
        (trace,) = search(rt, message_id="m1")
        attempt = trace["entries"][-1]
        assert (attempt["outcome"], attempt["reason"]) == ("skipped", "filtered: filters[0]: event equals 'Internal Ping'")
        assert trace["destinations"] == {"hook": "skipped"}
        minute = rt.redis.hgetall(next(rt.redis.scan_iter(f"{rt.config.namespace}:m:d:hook:*")))
        assert minute[b"filtered"] == b"1" and minute[b"delivered"] == b"1"


def test_a_delete_passes_every_filter(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, filters=[{"then": "drop"}])])
        send(client_for(rt), [track("m1", user="u2"), {"type": "delete", "userId": "u1", "messageId": "d1"}])
        work(rt)
        assert [r.json()["type"] for r in hook.requests] == ["delete"]
        assert rt.queue.depth("hook")["filtered"] == 1


def test_filters_apply_to_events_queued_before_the_config_changed(make_runtime, client_for):
    """They run in the worker, so a filter added while events wait applies to them too."""
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        send(client_for(rt), [track("m1", "Internal Ping"), track("m2")])
        dc = rt.config.destination("hook")
        dc.filters = parse_config(base_config(destinations=[webhook_destination(hook.base_url, filters=FILTERS)])) \
            .destination("hook").filters
        work(rt)
        assert [r.json()["messageId"] for r in hook.requests] == ["m2"]


def test_a_transform_changes_the_event_before_mapping(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, transform=T + "upper_plan")])
        send(client_for(rt), [track("m1", plan="pro")])
        work(rt)
        assert hook.requests[0].json()["properties"] == {"plan": "PRO"}


def test_a_transform_can_make_several_events_of_one(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, transform=T + "split_products",
                                                            settings={"batch": True})])
        send(client_for(rt), [track("m1", products=[{"sku": "a"}, {"sku": "b"}]), track("m2", products=[{"sku": "c"}])])
        work(rt)
        (req,) = hook.requests
        assert [(e["messageId"], e["event"], e["properties"]) for e in req.json()] == [
            ("m1-0", "Product Bought", {"sku": "a"}), ("m1-1", "Product Bought", {"sku": "b"}),
            ("m2-0", "Product Bought", {"sku": "c"})]
        assert rt.queue.depth("hook")["delivered"] == 2  # counted per event received


def test_a_transform_returning_none_drops_the_event_with_the_reason(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, transform=T + "drop_tests")])
        send(client_for(rt), [track("m1", test=True), track("m2")])
        work(rt)
        assert [r.json()["messageId"] for r in hook.requests] == ["m2"]
        assert rt.queue.depth("hook")["filtered"] == 1
        reason = search(rt, message_id="m1")[0]["entries"][-1]["reason"]
        assert reason == f"filtered: transform {T}drop_tests returned None"


def test_a_transform_that_raises_rejects_that_event_with_its_traceback(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, transform=T + "explode")])
        send(client_for(rt), [track("m1")])
        work(rt)
        assert hook.requests == []
        ((_, dead),) = rt.queue.dead_letters("hook")
        assert dead["reason"] == f"transform {T}explode raised ValueError: no plan for u1"
        assert dead["response"].startswith("Traceback (most recent call last):")
        assert 'transform_examples.py", line' in dead["response"] and dead["response"].endswith("ValueError: no plan for u1")
        assert dead["event"]["messageId"] == "m1"


def test_a_transform_returning_something_else_rejects_the_event(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, transform=T + "not_an_event")])
        send(client_for(rt), [track("m1")])
        work(rt)
        ((_, dead),) = rt.queue.dead_letters("hook")
        assert dead["reason"] == (f"transform {T}not_an_event returned int; expected an event (a dict with a type), "
                                  "a list of events, or None")


@pytest.mark.parametrize("name,error", [
    ("tag_with_a_set", "TypeError: Object of type set is not JSON serializable"),
    ("tag_with_a_lone_surrogate", "a lone UTF-16 surrogate"),
])
def test_a_transform_returning_an_event_json_cannot_carry_rejects_only_that_event(make_runtime, client_for, name, error):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, transform=T + name)])
        send(client_for(rt), [track("m1", user="u1", stamp=True), track("m2", user="u2")])
        work(rt)
        assert [r.json()["messageId"] for r in hook.requests] == ["m2"]
        ((_, dead),) = rt.queue.dead_letters("hook")
        assert (dead["event"]["messageId"], dead["reason"]) == ("m1", f"transform {T}{name} returned an event JSON can't carry ({error})")


def test_a_transform_cannot_turn_an_event_into_a_gdpr_delete(make_runtime, client_for):
    """A delete comes as a delete call, so the router forgets the user and tracks the regulation."""
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, transform=T + "erase_testers")])
        send(client_for(rt), [track("m1", user="u1", stamp=True), track("m2", user="u2")])
        work(rt)
        assert [(r.json()["type"], r.json()["messageId"]) for r in hook.requests] == [("track", "m2")]
        ((_, dead),) = rt.queue.dead_letters("hook")
        assert dead["reason"] == f"transform {T}erase_testers returned a delete; send a delete call to erase a user"


@pytest.mark.parametrize("path,message", [
    ("nosuchmodule_xyz:f", "cannot import nosuchmodule_xyz: ModuleNotFoundError: No module named 'nosuchmodule_xyz'"),
    (T + "missing", "tests.router.transform_examples has no missing"),
    (T + "NOT_CALLABLE", T + "NOT_CALLABLE is not callable"),
    ("no_colon", "not a callable path: 'no_colon' (write module:function, e.g. mytransforms:scrub)"),
    ("tests.router.transform_script_that_exits:scrub", "cannot import tests.router.transform_script_that_exits: "
                                                       "SystemExit: usage: transform_script_that_exits.py FILE"),
])
def test_a_bad_transform_path_is_a_config_error_naming_the_key(path, message):
    with pytest.raises(ConfigError) as err:
        parse_config(base_config(destinations=[webhook_destination("http://127.0.0.1:9", transform=path)]))
    assert err.value.errors == {"destinations[0].transform": message}


def test_a_bad_filter_is_a_config_error_naming_its_path():
    bad = [{"if": {"properties.plan": {"equal": "free"}}, "then": "drop"}]
    with pytest.raises(ConfigError) as err:
        parse_config(base_config(destinations=[webhook_destination("http://127.0.0.1:9", filters=bad)]))
    assert err.value.errors == {"destinations[0].filters[0].if.properties.plan.equal": (
        "unknown operator 'equal' (known: equals, not_equals, in, not_in, contains, starts_with, ends_with, "
        "exists, gt, gte, lt, lte)")}


ADMIN = {"Authorization": "Bearer admin-secret-token"}


def test_the_event_tester_shows_what_filters_and_the_transform_did(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, filters=FILTERS, transform=T + "upper_plan")])
        client = client_for(rt)
        report = client.post("/v1/admin/test/hook", json=track("m1", plan="pro", ssn="1"), headers=ADMIN).get_json()
        assert report["filters"] == ["filters[1]: every event: dropped properties ssn",
                                     f"transform {T}upper_plan returned 1 event"]
        assert report["staged"][0]["properties"] == {"plan": "PRO"}
        assert report["mapped"]["properties"] == {"plan": "PRO"}
        dropped = client.post("/v1/admin/test/hook", json=track("m2", "Internal Ping"), headers=ADMIN).get_json()
        assert dropped["filters"] == ["filters[0]: event equals 'Internal Ping': dropped"]
        assert (dropped["staged"], dropped["mapped"], dropped["requests"]) == ([], None, [])
        assert dropped["outcome"] == {"status": "skipped", "reason": "filtered: filters[0]: event equals 'Internal Ping'",
                                      "http_status": None}
        assert hook.requests == []


def test_a_dead_letters_rebuilt_request_goes_through_the_transform_too(make_runtime, client_for):
    with FakeServer(lambda req: Reply(422, {"error": "no"})) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, transform=T + "upper_plan")])
        client = client_for(rt)
        send(client, [track("m1", plan="pro")])
        work(rt)
        ((entry_id, dead),) = rt.queue.dead_letters("hook")
        assert dead["payload"]["properties"] == {"plan": "PRO"}
        detail = client.get(f"/v1/admin/dead-letters/hook/{entry_id}", headers=ADMIN).get_json()
        (req,) = detail["requests"]
        assert json.loads(req["body"])["properties"] == {"plan": "PRO"}


def test_a_transform_calling_sys_exit_rejects_that_event_and_the_rest_of_the_batch_is_delivered(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, transform=T + "quit_on_stamp")])
        send(client_for(rt), [track("m1", stamp=True), track("m2")])
        work(rt)
        assert [json.loads(r.body)["messageId"] for r in hook.requests] == ["m2"]
        ((_, dead),) = rt.queue.dead_letters("hook")
        assert dead["reason"] == f"transform {T}quit_on_stamp raised SystemExit: 3"
        assert dead["event"]["messageId"] == "m1"


def test_events_a_transform_made_go_in_requests_of_at_most_batch_size(make_runtime, client_for):
    with FakeServer() as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, transform=T + "split_products", batch_size=2,
                                                            settings={"batch": True})])
        send(client_for(rt), [track("m1", products=[{"sku": "a"}, {"sku": "b"}, {"sku": "c"}])])
        work(rt)
        assert [[e["messageId"] for e in r.json()] for r in hook.requests] == [["m1-0", "m1-1"], ["m1-2"]]
        assert rt.queue.depth("hook")["delivered"] == 1


def test_when_a_vendor_fails_a_request_the_rest_a_transform_made_waits_unsent(make_runtime, client_for):
    with FakeServer(lambda req: Reply(503, "busy")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, transform=T + "split_products", batch_size=2,
                                                            settings={"batch": True})])
        send(client_for(rt), [track("m1", products=[{"sku": "a"}, {"sku": "b"}, {"sku": "c"}])])
        work(rt)
        assert [[e["messageId"] for e in r.json()] for r in hook.requests] == [["m1-0", "m1-1"]]
        assert rt.queue.depth("hook")["retrying"] == 1
