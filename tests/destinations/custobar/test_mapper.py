"""Segment event -> the exact records Custobar receives (map() is pure; no HTTP here)."""
from __future__ import annotations

import hashlib
from typing import Any

import pytest

from destinations.custobar.mapper import map_event
from destinations.custobar.upload import Endpoint, Upload
from router.errors import RejectedEvent, SkippedEvent
from tests.destinations.custobar.conftest import TS, event, load_settings


def identify(traits: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return event("identify", traits=traits, **fields)


def order(**properties: Any) -> dict[str, Any]:
    return event("track", event="Order Completed", properties=properties, context={"traits": {"email": "ada@example.com"}})


# identify --------------------------------------------------------------------------------

IDENTIFY = [
    pytest.param(
        {"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace", "phone": "+358 40 123 4567",
         "canEmail": True, "can_sms": "false", "createdAt": "2015-11-23T13:11:23Z", "lastLogin": "2015-11-25",
         "birthday": "1991-06-14T00:00:00Z", "gender": "female", "company": {"name": "Acme Oy"},
         "address": {"street": "42 Red Lane", "city": "Epwell", "postalCode": "OX15 3PW", "country": "gb", "state": "Oxon"},
         "language": "en-GB", "tags": ["kitchenware", "vip"], "mailing_lists": "weekly"},
        {"external_id": "user-1", "email": "ada@example.com", "phone_number": "+358401234567", "first_name": "Ada",
         "last_name": "Lovelace", "can_email": True, "can_sms": False, "date_joined": "2015-11-23T13:11:23Z",
         "last_login": "2015-11-25", "birth_date": "1991-06-14", "gender": "female", "company": "Acme Oy",
         "street_address": "42 Red Lane", "city": "Epwell", "province": "Oxon", "zip_code": "OX15 3PW",
         "country": "GB", "language": "EN", "tags": ["kitchenware", "vip"], "mailing_lists": ["weekly"]},
        id="camel-case-segment-traits",
    ),
    pytest.param(
        {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace", "phone_number": "+447757138957",
         "can_post": True, "can_profile": False, "can_push": True, "date_joined": "2015-06-03T13:11:23Z",
         "street_address": "1 Main St", "city": "Turku", "zip_code": "20100", "country": "FI", "language": "fi",
         "vat_number": "FI123456", "shop_id": "turku-1", "company": "Acme Oy", "canonical_id": "person-9"},
        {"external_id": "user-1", "email": "ada@example.com", "phone_number": "+447757138957", "first_name": "Ada",
         "last_name": "Lovelace", "canonical_id": "person-9", "can_post": True, "can_profile": False, "can_push": True,
         "date_joined": "2015-06-03T13:11:23Z", "company": "Acme Oy", "street_address": "1 Main St", "city": "Turku",
         "zip_code": "20100", "country": "FI", "language": "FI", "vat_number": "FI123456", "shop_id": "turku-1"},
        id="snake-case-custobar-names",
    ),
    pytest.param(
        {"email": "ada@example.com"},
        {"external_id": "user-1", "email": "ada@example.com"},
        id="only-the-keys-the-event-carries",
    ),
    pytest.param(
        {"firstName": None, "phone": None, "city": "", "tags": None, "canEmail": None},
        {"external_id": "user-1", "phone_number": "", "first_name": "", "can_email": "", "city": "", "tags": ""},
        id="null-or-empty-trait-clears-the-key",
    ),
    pytest.param(
        {"tags": {"add": ["vip"], "remove": ["churned"]}, "mailing_lists": {"remove": ["kitchenware"]}},
        {"external_id": "user-1", "tags.add": ["vip"], "tags.remove": ["churned"], "mailing_lists.remove": ["kitchenware"]},
        id="list-add-remove-as-objects",
    ),
    pytest.param(
        {"tags.add": ["vip"], "mailingLists.add": "weekly", "mailing_lists.remove": ["kitchenware"]},
        {"external_id": "user-1", "tags.add": ["vip"], "mailing_lists.add": ["weekly"], "mailing_lists.remove": ["kitchenware"]},
        id="list-add-remove-as-flat-keys",
    ),
]


@pytest.mark.parametrize(("traits", "record"), IDENTIFY)
def test_identify_becomes_one_customer_record_with_custobar_names(traits, record):
    assert map_event(identify(traits), load_settings()) == Upload(Endpoint.CUSTOMERS, [record])


def test_identify_without_user_id_is_identified_by_email_or_phone():
    upload = map_event(identify({"phone": "040 1234567"}, userId=None, anonymousId="anon-1"), load_settings(default_region="fi"))
    assert upload.records == [{"phone_number": "+358401234567"}]


def test_identify_reads_traits_from_context_too_with_the_call_s_own_winning():
    upload = map_event(identify({"email": "own@example.com"}, context={"traits": {"email": "ctx@example.com", "city": "Oulu"}}), load_settings())
    assert upload.records == [{"external_id": "user-1", "email": "own@example.com", "city": "Oulu"}]


CUSTOM = {"loyaltyLevel": "gold", "Favourite Shop": "Helsinki", "points": 12, "old_flag": None, "interests": ["tea", "cups"],
          "prefs": {"theme": "dark"}, "address": {"city": "Oulu", "line2": "B 4"}, "company": {"name": "Acme", "id": 7}}


def test_traits_without_a_custobar_field_become_company_fields_with_the_prefix():
    upload = map_event(identify(CUSTOM), load_settings(company_prefix="acme"))
    assert upload.records == [{
        "external_id": "user-1", "company": "Acme", "city": "Oulu",
        "acme__loyalty_level": "gold", "acme__favourite_shop": "Helsinki", "acme__points": 12, "acme__old_flag": "",
        "acme__interests": ["tea", "cups"],
    }]
    # an object has no custom field to go to, nor do unmapped parts of address/company
    assert upload.left_out == ("prefs", "address.line2", "company.id")


def test_traits_without_a_custobar_field_are_left_out_and_named_without_a_prefix():
    upload = map_event(identify(CUSTOM), load_settings())
    assert upload.records == [{"external_id": "user-1", "company": "Acme", "city": "Oulu"}]
    assert upload.left_out == ("loyaltyLevel", "Favourite Shop", "points", "old_flag", "interests", "prefs", "address.line2", "company.id")


def test_an_address_trait_that_is_not_an_object_is_counted_as_left_out_not_dropped_unseen():
    traits = {"email": "ada@example.com", "address": "42 Red Lane, Epwell"}
    upload = map_event(identify(traits), load_settings(company_prefix="acme"))
    assert upload.records == [{"external_id": "user-1", "email": "ada@example.com"}]
    assert upload.left_out == ("address",)


@pytest.mark.parametrize(
    ("rule", "user_id", "external_id"),
    [
        ("reject", "AB-12-cd", "AB-12-cd"),
        ("strip", "user_1.x", "user1x"),
        ("strip", 12345, "12345"),
        ("hash", "ada@example.com", hashlib.sha256(b"ada@example.com").hexdigest()),
        ("hash", "valid-id", "valid-id"),
    ],
)
def test_user_id_becomes_external_id_by_the_configured_rule(rule, user_id, external_id):
    upload = map_event(identify({}, userId=user_id), load_settings(external_id_rule=rule))
    assert upload.records == [{"external_id": external_id}]


REJECTED_IDENTIFY = [
    ({}, {"userId": "user_1"}, {}, "letters, numbers and dashes only"),
    ({}, {"userId": "..."}, {"external_id_rule": "strip"}, "letters, numbers and dashes only"),
    # Python's $ also matches before a final newline: the id must be checked whole
    ({}, {"userId": "user-1\n"}, {}, "letters, numbers and dashes only"),
    ({"firstName": "Ada"}, {"userId": None}, {}, "needs a userId, an email or a phone"),
    ({"email": None}, {"userId": ""}, {}, "needs a userId, an email or a phone"),
    ({"phone": "12"}, {}, {}, "traits.phone '12' is not a phone number"),
    ({"phone": "040 1234567"}, {}, {}, "set default_region"),
    ({"phone": "+358 12"}, {}, {}, "is not a valid phone number"),
    ({"country": "Finland"}, {}, {}, "two-letter ISO country code"),
    ({"language": "Finnish"}, {}, {}, "not a language code"),
    ({"canEmail": "yes"}, {}, {}, "traits.canEmail must be true or false"),
    ({"createdAt": "last tuesday"}, {}, {}, "traits.createdAt 'last tuesday' is not an ISO-8601"),
    ({"firstName": {"given": "Ada"}}, {}, {}, "traits.firstName must be a single value"),
    ({"tags": [{"name": "vip"}]}, {}, {}, "traits.tags must be a name or a list of names"),
]


@pytest.mark.parametrize(("traits", "fields", "settings", "reason"), REJECTED_IDENTIFY)
def test_identify_that_custobar_could_not_take_is_rejected_with_the_reason(traits, fields, settings, reason):
    with pytest.raises(RejectedEvent) as caught:
        map_event(identify(traits, **fields), load_settings(**settings))
    assert reason in caught.value.reason


# delete ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("settings", "record"),
    [
        ({}, {"external_id": "user-1", "is_deleted": True}),
        ({"forget_on_delete": True}, {"external_id": "user-1", "is_deleted": True, "is_forgotten": True}),
        ({"external_id_rule": "strip"}, {"external_id": "user1", "is_deleted": True}),
    ],
)
def test_delete_marks_the_customer_deleted_and_optionally_forgotten(settings, record):
    gdpr = {"type": "delete", "userId": "user-1" if not settings.get("external_id_rule") else "user_1",
            "messageId": "m-del", "timestamp": TS, "context": None, "integrations": []}
    assert map_event(gdpr, load_settings(**settings)) == Upload(Endpoint.CUSTOMERS, [record])


def test_delete_without_user_id_is_rejected():
    with pytest.raises(RejectedEvent, match="needs the userId"):
        map_event({"type": "delete", "userId": None, "messageId": "m", "timestamp": TS, "context": [], "integrations": None}, load_settings())


# Order Completed -------------------------------------------------------------------------

THREE_LINES = dict(
    order_id="ORD-1001", total=61.47, revenue=55.0, discount=5.5, shipping=4.9, currency="eur",
    products=[
        {"product_id": "p-1", "sku": "SKU-1", "name": "Teapot", "price": 19.99, "quantity": 2},
        {"sku": "SKU-2", "name": "Cup", "price": "1.005", "quantity": 3, "discount": 0.5},
        {"product_id": 77, "name": "Gift wrap", "price": 0},
    ],
)
SALE = {"sale_external_id": "ORD-1001", "sale_date": TS, "sale_customer_id": "user-1", "sale_email": "ada@example.com",
        "sale_total": 6147, "sale_discount": 550, "sale_shipping": 490, "sale_currency": "EUR", "sale_exchange_rate": 1}


def test_order_completed_becomes_one_sale_row_per_product_in_integer_cents():
    upload = map_event(order(**THREE_LINES), load_settings(account_currency="EUR"))
    assert upload == Upload(Endpoint.SALES, [
        {**SALE, "external_id": "ORD-1001-1", "product_id": "p-1", "quantity": 2, "unit_price": 1999, "total": 3998},
        # 1.005 rounds half up to 101; line total 3 x 1.005 - 0.50 = 2.515 -> 252
        {**SALE, "external_id": "ORD-1001-2", "product_id": "SKU-2", "quantity": 3, "unit_price": 101, "total": 252, "discount": 50},
        # no quantity: one item
        {**SALE, "external_id": "ORD-1001-3", "product_id": "77", "quantity": 1, "unit_price": 0, "total": 0},
    ])


@pytest.mark.parametrize(
    ("properties", "settings", "sale"),
    [
        ({"currency": "USD", "exchange_rate": 0.92}, {}, {"sale_currency": "USD", "sale_exchange_rate": 0.92}),
        ({"currency": "EUR"}, {"account_currency": "eur"}, {"sale_currency": "EUR", "sale_exchange_rate": 1}),
        ({}, {}, {}),
        ({"revenue": 10}, {}, {"sale_total": 1000}),
        ({"total": "0.285"}, {}, {"sale_total": 29}),
    ],
)
def test_order_currency_goes_with_an_exchange_rate_and_totals_round_half_up(properties, settings, sale):
    upload = map_event(order(order_id="o-1", products=[{"product_id": "p"}], **properties), load_settings(**settings))
    assert upload.records == [{"sale_external_id": "o-1", "sale_date": TS, "sale_customer_id": "user-1",
                               "sale_email": "ada@example.com", **sale, "external_id": "o-1-1", "product_id": "p", "quantity": 1}]


REJECTED_ORDERS = [
    ({"products": [{"product_id": "p"}]}, "needs properties.order_id"),
    ({"order_id": "o-1"}, "has no properties.products"),
    ({"order_id": "o-1", "products": []}, "has no properties.products"),
    ({"order_id": "o-1", "products": [{"product_id": "p"}, {"name": "no id"}]}, "properties.products[1] has no product_id or sku"),
    ({"order_id": "o-1", "products": ["p"]}, "properties.products[0] is not a product object"),
    ({"order_id": "o-1", "products": [{"product_id": "p", "price": "free"}]}, "properties.products[0].price must be a number"),
    ({"order_id": "o-1", "products": [{"product_id": "p"}], "discount": True}, "properties.discount must be a number"),
    ({"order_id": "o-1", "products": [{"product_id": "p"}], "currency": "USD"}, "needs properties.exchange_rate"),
    ({"order_id": "o-1", "products": [{"product_id": "p"}], "currency": "dollars"}, "not an ISO 4217 code"),
    # more digits than Decimal's 28: a clear reason, not "mapping failed: InvalidOperation"
    ({"order_id": "o-1", "products": [{"product_id": "p"}], "total": 1e30}, "properties.total is too large"),
    ({"order_id": "o-1", "products": [{"product_id": "p", "price": "1e27"}]}, "properties.products[0].price is too large"),
]


@pytest.mark.parametrize(("properties", "reason"), REJECTED_ORDERS)
def test_an_order_custobar_could_not_take_is_rejected_whole_with_the_reason(properties, reason):
    with pytest.raises(RejectedEvent) as caught:
        map_event(order(**properties), load_settings())
    assert reason in caught.value.reason


# other track events ---------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "properties", "settings", "record"),
    [
        ("Product Viewed", {"product_id": "p-1", "name": "Teapot"}, {},
         {"type": "BROWSE", "date": TS, "customer_id": "user-1", "email": "ada@example.com", "product_id": "p-1", "path": "/teapot"}),
        ("Product Added", {"sku": "SKU-2"}, {},
         {"type": "BASKET_ADD", "date": TS, "customer_id": "user-1", "email": "ada@example.com", "product_id": "SKU-2", "path": "/teapot"}),
        ("Order Shipped", {"order_id": "o-1", "tracking_number": "JJFI123"}, {"event_types": {"Order Shipped": "ORDER_SHIPPED"}},
         {"type": "ORDER_SHIPPED", "date": TS, "customer_id": "user-1", "email": "ada@example.com", "path": "/teapot",
          "sale_id": "o-1", "tracking_number": "JJFI123"}),
    ],
)
def test_mapped_track_events_become_custobar_events_of_the_configured_type(name, properties, settings, record):
    track = event("track", event=name, properties=properties,
                  context={"traits": {"email": "ada@example.com"}, "page": {"path": "/teapot"}})
    assert map_event(track, load_settings(**settings)) == Upload(Endpoint.EVENTS, [record])


def test_numeric_ids_on_custobar_events_go_as_text_like_the_sale_they_name():
    shipped = event("track", event="Order Shipped", properties={"order_id": 1001, "tracking_number": 998877},
                    context={"traits": {"email": "ada@example.com"}})
    viewed = event("track", event="Product Viewed", properties={"product_id": 42}, context={})
    settings = load_settings(event_types={"Order Shipped": "ORDER_SHIPPED", "Product Viewed": "BROWSE"})
    assert map_event(shipped, settings).records == [{
        "type": "ORDER_SHIPPED", "date": TS, "customer_id": "user-1", "email": "ada@example.com",
        "sale_id": "1001", "tracking_number": "998877"}]
    sale = map_event(order(order_id=1001, products=[{"product_id": 42, "price": 1}]), settings).records[0]
    assert (sale["sale_external_id"], sale["product_id"]) == ("1001", "42")
    assert map_event(viewed, settings).records == [{"type": "BROWSE", "date": TS, "customer_id": "user-1", "product_id": "42"}]


def test_a_track_event_with_no_custobar_type_is_skipped_with_the_reason():
    with pytest.raises(SkippedEvent, match="'Signed Up' has no Custobar event type"):
        map_event(event("track", event="Signed Up", properties={}), load_settings())


def test_a_name_that_is_a_custobar_type_only_up_to_a_final_newline_is_not_one():
    with pytest.raises(SkippedEvent, match="has no Custobar event type"):
        map_event(event("track", event="BROWSE\n", properties={}), load_settings())


def test_a_custobar_event_for_an_unknown_person_is_rejected():
    anonymous = event("track", event="Product Viewed", properties={"product_id": "p"}, userId=None, anonymousId="a-1")
    with pytest.raises(RejectedEvent, match="needs a userId"):
        map_event(anonymous, load_settings())


@pytest.mark.parametrize("kind", ["page", "screen", "group", "alias"])
def test_calls_custobar_has_no_place_for_are_skipped(kind):
    with pytest.raises(SkippedEvent, match=f"not {kind}"):
        map_event(event(kind), load_settings())
