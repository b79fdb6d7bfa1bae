"""GET /metrics: Prometheus text, read from Redis, the same from every process."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from router.app import create_app
from router.queue import now_ms
from router.envelopes import envelope
from router.runtime import Runtime
from router.scheduler import Scheduler
from tests.fakes.http import FakeServer, Reply
from tests.helpers import WRITE_KEY, webhook_destination, work

ADMIN = {"Authorization": "Bearer admin-secret-token"}


def scrape(client) -> dict[tuple[str, tuple], float]:
    r = client.get("/metrics", headers=ADMIN)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.headers["Content-Type"].startswith("text/plain; version=")
    out = {}
    for family in text_string_to_metric_families(r.get_data(as_text=True)):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def track(mid: str) -> dict:
    return {"type": "track", "userId": "u", "event": "Order Completed", "messageId": mid}


def test_metrics_need_the_admin_token_unless_public(make_runtime, client_for):
    client = client_for(make_runtime())
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/metrics", headers=ADMIN).status_code == 200
    assert client_for(make_runtime(metrics_public=True)).get("/metrics").status_code == 200
    assert client_for(make_runtime(admin_token=None)).get("/metrics").status_code == 403


def test_metrics_count_deliveries_ingest_and_latency_for_every_process_alike(make_runtime, client_for):
    with FakeServer(lambda req: Reply(422, "no") if req.json()["messageId"] == "bad" else Reply(200, {})) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client = client_for(rt)
        client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [track("a"), track("b"), track("bad"), {"type": "track"}]})
        client.post("/v1/track", json={"writeKey": WRITE_KEY, **track("a")})
        work(rt)
        m = scrape(client)
        hook_ = (("destination", "hook"),)
        for outcome, n in {"delivered": 2, "rejected": 1, "retried": 0, "skipped": 0, "gave_up": 0}.items():
            assert m[("eventrouter_delivery_events_total", (("destination", "hook"), ("outcome", outcome)))] == n
        for status, n in {"accepted": 3, "rejected": 1, "duplicate": 1, "suppressed": 0}.items():
            assert m[("eventrouter_ingest_events_total", (("source", "website"), ("status", status)))] == n
        assert m[("eventrouter_delivery_latency_seconds_count", hook_)] == 2
        assert m[("eventrouter_delivery_latency_seconds_bucket", (("destination", "hook"), ("le", "+Inf")))] == 2
        assert m[("eventrouter_delivery_latency_seconds_bucket", (("destination", "hook"), ("le", "0.05")))] <= 2
        assert m[("eventrouter_dead_letters", hook_)] == 1
        assert m[("eventrouter_buffered_events", hook_)] == 0
        assert m[("eventrouter_retrying_events", hook_)] == 0
        assert m[("eventrouter_inflight_batches", hook_)] == 0
        assert m[("eventrouter_oldest_waiting_event_age_seconds", hook_)] == 0
        # another web process (its own runtime and app, the same Redis) reports the same numbers
        other = create_app(runtime=Runtime(rt.config, rt.redis)).test_client()
        ticking = ("eventrouter_scheduler_last_tick_age_seconds", ())  # the clock moves between two scrapes
        assert {k: v for k, v in scrape(other).items() if k != ticking} == {k: v for k, v in m.items() if k != ticking}


def test_metrics_show_the_backlog_and_the_age_of_its_oldest_event(make_runtime, client_for):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/hook")])
    two_minutes_ago = now_ms() - 120_000
    rt.queue.push("hook", [envelope(track(f"m{i}"), f"m{i}", two_minutes_ago) for i in range(3)])
    m = scrape(client_for(rt))
    assert m[("eventrouter_buffered_events", (("destination", "hook"),))] == 3
    assert 120 <= m[("eventrouter_oldest_waiting_event_age_seconds", (("destination", "hook"),))] < 180


def test_metrics_say_whether_the_scheduler_and_workers_are_alive(make_runtime, client_for):
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/hook")])
    client = client_for(rt)
    m = scrape(client)
    assert m[("eventrouter_scheduler_up", ())] == 0 and m[("eventrouter_workers", ())] == 0
    assert ("eventrouter_scheduler_last_tick_age_seconds", ()) not in m
    Scheduler(rt).tick()
    m = scrape(client)
    assert m[("eventrouter_scheduler_up", ())] == 1
    assert 0 <= m[("eventrouter_scheduler_last_tick_age_seconds", ())] < 10


def test_a_failing_destination_shows_as_failing_until_it_delivers_again(make_runtime, client_for):
    state = {"up": False}
    with FakeServer(lambda req: Reply(200, {}) if state["up"] else Reply(503, "down")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)], delivery={"retry_base": "10ms", "retry_max": "10ms"})
        client = client_for(rt)
        client.post("/v1/track", json={"writeKey": WRITE_KEY, **track("m1")})
        work(rt)
        m = scrape(client)
        assert m[("eventrouter_destination_failing", (("destination", "hook"),))] == 1
        assert m[("eventrouter_retrying_events", (("destination", "hook"),))] == 1
        state["up"] = True
        deadline = now_ms() + 10_000
        while rt.queue.depth("hook").get("delivered", 0) < 1 and now_ms() < deadline:
            work(rt)
        m = scrape(client)
        assert m[("eventrouter_destination_failing", (("destination", "hook"),))] == 0
        assert m[("eventrouter_delivery_events_total", (("destination", "hook"), ("outcome", "retried")))] == 1


def test_two_sources_sharing_a_name_are_one_series_so_prometheus_does_not_refuse_the_scrape(make_runtime, client_for):
    rt = make_runtime(sources=[{"name": "website", "write_keys": [WRITE_KEY]},
                               {"name": "website", "webhook_secret": "hook-secret"},
                               {"name": "app", "write_keys": ["app-key"]}])
    client = client_for(rt)
    client.post("/v1/track", json={"writeKey": WRITE_KEY, **track("a")})
    client.post("/v1/track", json={"writeKey": "app-key", **track("b")})
    text = client.get("/metrics", headers=ADMIN).get_data(as_text=True)
    samples = [(s.name, tuple(sorted(s.labels.items())), s.value)
               for family in text_string_to_metric_families(text) for s in family.samples]
    keys = [s[:2] for s in samples]
    assert len(keys) == len(set(keys)), "a sample repeated with the same labels"
    accepted = {s[1]: s[2] for s in samples if s[0] == "eventrouter_ingest_events_total" and ("status", "accepted") in s[1]}
    assert accepted == {(("source", "website"), ("status", "accepted")): 1,
                        (("source", "app"), ("status", "accepted")): 1}
