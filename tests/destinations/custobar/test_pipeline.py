"""Custobar inside the engine: YAML-shaped config -> ingest -> Redis -> worker -> fake Custobar."""
from __future__ import annotations

from router.config import parse_config
from tests.destinations.custobar.conftest import TOKEN
from tests.destinations.custobar.fake_custobar import FakeCustobar
from tests.helpers import work

AUTH = {"Authorization": "Basic dGVzdC13cml0ZS1rZXk6"}  # base64("test-write-key:")


def custobar(base_url: str, settings: dict | None = None, **extra) -> dict:
    return {"name": "my-custobar", "type": "custobar", "settings": {"base_url": base_url, "token": TOKEN, **(settings or {})}, **extra}


def test_config_fills_custobar_defaults_and_keeps_the_token_secret():
    config = parse_config({"destinations": [{"name": "cb", "type": "custobar", "settings": {"company": "acme", "token": "t-1"}}]})
    dc = config.destination("cb")
    assert dc.settings["base_url"] == "https://acme.custobar.com"
    assert dc.batch_size == 100
    assert dc.rate_limit.per_second == 3
    assert dc.secrets == ["t-1"]


def test_events_accepted_by_ingest_reach_custobar_in_one_upload_per_endpoint(make_runtime, client_for):
    with FakeCustobar(refuse=lambda kind, r: "unknown field acme__shoe_size" if "acme__shoe_size" in r else None) as vendor:
        rt = make_runtime(destinations=[custobar(vendor.base_url, {"company_prefix": "acme"},
                                                  events={"rename": {"Purchase": "Order Completed"}})])
        batch = [
            {"type": "identify", "userId": "user-1", "messageId": "m-1", "traits": {"email": "ada@example.com", "plan": "pro"}},
            {"type": "identify", "userId": "user-2", "messageId": "m-2", "traits": {"shoeSize": 42}},
            {"type": "track", "userId": "user-1", "messageId": "m-3", "event": "Purchase",
             "properties": {"order_id": "o-1", "total": 19.99, "products": [{"product_id": "p-1", "price": 19.99}]}},
            {"type": "track", "userId": "user-1", "messageId": "m-4", "event": "Signed Up"},
            {"type": "page", "userId": "user-1", "messageId": "m-5", "name": "Home"},
        ]
        r = client_for(rt).post("/v1/batch", json={"batch": batch}, headers=AUTH)
        assert r.status_code == 200, r.get_json()
        work(rt)
    assert vendor.accepted["customers"] == [{"external_id": "user-1", "email": "ada@example.com", "acme__plan": "pro"}]
    assert [(row["sale_external_id"], row["sale_total"], row["unit_price"]) for row in vendor.accepted["sales"]] == [("o-1", 1999, 1999)]
    depth = rt.queue.depth("my-custobar")
    assert (depth["delivered"], depth["rejected"], depth["skipped"]) == (2, 1, 1)
    [(_, dead)] = rt.queue.dead_letters("my-custobar")
    assert "unknown field acme__shoe_size" in str(dead)


def test_traits_left_out_for_want_of_a_company_prefix_are_counted_in_the_stats(make_runtime, client_for):
    with FakeCustobar() as vendor:
        rt = make_runtime(destinations=[custobar(vendor.base_url, {})])
        event = {"type": "identify", "userId": "user-1", "traits": {"email": "ada@example.com", "plan": "pro", "tier": 2}}
        client_for(rt).post("/v1/batch", json={"batch": [event]}, headers=AUTH)
        work(rt)
    assert vendor.accepted["customers"] == [{"external_id": "user-1", "email": "ada@example.com"}]
    depth = rt.queue.depth("my-custobar")
    assert (depth["delivered"], depth["left_out_traits"]) == (1, 2)


def test_traits_left_out_of_an_event_retried_before_delivery_are_counted_once(make_runtime, client_for):
    from tests.fakes.http import Reply

    with FakeCustobar() as vendor:
        vendor.script(Reply(503, {"detail": "busy"}))
        rt = make_runtime(delivery={"retry_base": "10ms", "retry_max": "10ms"}, destinations=[custobar(vendor.base_url, {})])
        event = {"type": "identify", "userId": "user-1", "traits": {"email": "ada@example.com", "plan": "pro", "tier": 2}}
        client_for(rt).post("/v1/batch", json={"batch": [event]}, headers=AUTH)
        for _ in range(20):
            work(rt)
            if rt.queue.depth("my-custobar").get("delivered"):
                break
    assert vendor.accepted["customers"] == [{"external_id": "user-1", "email": "ada@example.com"}]
    depth = rt.queue.depth("my-custobar")
    assert (depth["retried"], depth["delivered"], depth["left_out_traits"]) == (1, 1, 2)
