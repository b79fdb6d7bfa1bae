"""events.rename onto a vendor's own event name gives that vendor's shape for it, not a generic event."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from destinations.custobar.mapper import map_event as custobar_map
from destinations.custobar.upload import Endpoint
from destinations.extole.mapper import map_event as extole_map
from destinations.extole.settings import ExtoleSettings
from destinations.stickystreet.mapper import map_event as sticky_map
from destinations.yespo.mapper import Kind
from destinations.yespo.mapper import map_event as yespo_map
from destinations.yespo.settings import YespoSettings
from router.routing import renamed
from tests.destinations.custobar.conftest import load_settings as custobar_settings
from tests.destinations.stickystreet.conftest import settings as sticky_settings

TS = "2026-11-23T10:00:00.000Z"
NOW = datetime(2026, 11, 23, 12, tzinfo=timezone.utc)
ORDER = {"order_id": "o-1", "total": 25, "revenue": 25, "currency": "eur",
         "products": [{"product_id": "p-1", "price": 12.5, "quantity": 2}]}


def track(name: str, properties: dict[str, Any], rename: dict[str, str]) -> dict[str, Any]:
    """The event as the destination instance sees it, after its events.rename."""
    event = {"type": "track", "event": name, "userId": "u1", "messageId": "m-1", "timestamp": TS, "receivedAt": TS,
             "properties": properties, "context": {"traits": {"email": "ann@example.com", "firstName": "Ann"}}}
    return renamed(event, rename)


def test_an_order_renamed_to_yespos_order_created_is_sent_in_the_order_created_shape():
    call = yespo_map(track("Order Completed", ORDER, {"Order Completed": "orderCreated"}),
                     YespoSettings().load({"api_key": "k"}), now=NOW)
    assert call.kind is Kind.EVENT
    assert call.body == {"eventTypeKey": "orderCreated", "keyValue": "ann@example.com", "params": [
        {"name": "email", "value": "ann@example.com"},
        {"name": "externalOrderId", "value": "o-1"},
        {"name": "externalCustomerId", "value": "u1"},
        {"name": "totalCost", "value": "25"},
        {"name": "status", "value": "INITIALIZED"},
        {"name": "date", "value": "2026-11-23T10:00:00"},
        {"name": "currency", "value": "EUR"},
        {"name": "items", "value": [{"externalItemId": "p-1", "quantity": 2, "cost": 12.5}]},
    ]}


def test_an_order_renamed_to_order_created_goes_to_yespos_orders_api_when_orders_go_there():
    call = yespo_map(track("Order Completed", ORDER, {"Order Completed": "orderCreated"}),
                     YespoSettings().load({"api_key": "k", "orders_via": "orders_api"}), now=NOW)
    assert call.kind is Kind.ORDER
    assert call.body["externalOrderId"] == "o-1"


def test_an_order_renamed_to_extoles_conversion_carries_the_conversion_fields():
    call = extole_map(track("Order Completed", ORDER, {"Order Completed": "conversion"}), ExtoleSettings().load({"api_key": "k"}))
    assert call == {"path": "/v5/events", "body": {"event_name": "conversion", "data": {
        "currency": "eur", "products": ORDER["products"],  # total and revenue became cart_value
        "partner_user_id": "u1", "email": "ann@example.com", "first_name": "Ann",
        "partner_conversion_id": "o-1", "cart_value": "25.00", "event_time": "2026-11-23T10:00:00+0000"}}}


def test_a_sign_up_renamed_to_extoles_registration_carries_the_registration_fields():
    call = extole_map(track("Signed Up", {}, {"Signed Up": "registration"}), ExtoleSettings().load({"api_key": "k"}))
    assert call["body"] == {"event_name": "registration", "data": {
        "partner_user_id": "u1", "email": "ann@example.com", "first_name": "Ann", "event_time": "2026-11-23T10:00:00+0000"}}


def test_an_order_renamed_to_sticky_streets_record_activity_records_activity():
    settings = sticky_settings(record_activity=True, campaign_id="777")
    assert sticky_map(track("Purchase", ORDER, {"Purchase": "record_activity"}), settings) == {
        "type": "record_activity", "code": "u1", "campaign_id": "777", "amount": "25.00", "authorization": "o-1"}


def test_a_view_renamed_to_a_custobar_event_type_is_sent_as_that_type():
    upload = custobar_map(track("Product Viewed", {"product_id": "p-1"}, {"Product Viewed": "BROWSE"}), custobar_settings())
    assert (upload.endpoint, upload.records) == (Endpoint.EVENTS, [
        {"type": "BROWSE", "date": TS, "customer_id": "u1", "email": "ann@example.com", "product_id": "p-1"}])


def test_a_renamed_order_listed_in_sale_events_is_a_custobar_sale():
    settings = custobar_settings(sale_events=["Purchase"], account_currency="EUR")
    upload = custobar_map(track("Order Completed", ORDER, {"Order Completed": "Purchase"}), settings)
    assert (upload.endpoint, upload.records) == (Endpoint.SALES, [{
        "sale_external_id": "o-1", "sale_date": TS, "sale_customer_id": "u1", "sale_email": "ann@example.com",
        "sale_total": 2500, "sale_currency": "EUR", "sale_exchange_rate": 1,
        "external_id": "o-1-1", "product_id": "p-1", "quantity": 2, "unit_price": 1250, "total": 2500}])
