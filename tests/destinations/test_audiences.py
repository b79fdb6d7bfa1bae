"""Engage/Personas audiences reach every destination that takes profile properties as the identify Segment sends them."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from destinations.audiences import audience_key, profile_form
from destinations.custobar.mapper import map_event as custobar_map
from destinations.custobar.upload import Endpoint, Upload
from destinations.extole.mapper import map_event as extole_map
from destinations.extole.settings import ExtoleSettings
from destinations.stickystreet.mapper import map_event as sticky_map
from destinations.yespo.mapper import Kind, YespoCall
from destinations.yespo.mapper import map_event as yespo_map
from destinations.yespo.settings import YespoSettings
from router.errors import RejectedEvent, SkippedEvent
from tests.destinations.custobar.conftest import load_settings as custobar_settings
from tests.destinations.stickystreet.conftest import settings as sticky_settings

TS = "2026-11-23T10:00:00.000Z"
KEY = "order_completed_last_30days"
PERSONAS = {"computation_class": "audience", "computation_key": KEY, "space_id": "spa_1"}


def audience(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "track", "event": name, "userId": "u1", "messageId": "m-1", "timestamp": TS, "receivedAt": TS,
        "properties": {"audience_key": KEY, KEY: name == "Audience Entered"},
        "context": {"personas": PERSONAS, "traits": {"email": "ann@example.com"}},
        "integrations": {}, **extra,
    }


def test_segments_example_audience_name_becomes_its_documented_key():
    assert audience_key("Order Completed Last 30 Days") == KEY
    assert audience_key("VIP Users") == "vip_users"
    assert audience_key(KEY) == KEY


@pytest.mark.parametrize("name, member", [("Audience Entered", True), ("Audience Exited", False)])
def test_an_audience_track_event_becomes_an_identify_with_the_key_as_a_true_or_false_trait(name, member):
    assert profile_form(audience(name)) == {
        "type": "identify", "userId": "u1", "messageId": "m-1", "timestamp": TS, "receivedAt": TS,
        "context": {"personas": PERSONAS, "traits": {"email": "ann@example.com"}}, "integrations": {},
        "traits": {KEY: member},
    }


def test_the_computation_key_names_the_audience_when_properties_lack_the_audience_key():
    event = audience("Audience Entered", properties={})
    assert profile_form(event)["traits"] == {KEY: True}
    with pytest.raises(RejectedEvent, match="no properties.audience_key"):
        profile_form(audience("Audience Entered", properties={}, context={}))


def test_an_audience_trait_named_in_another_case_is_snake_cased_when_personas_marks_an_audience():
    identify = {"type": "identify", "userId": "u1", "traits": {"Order Completed Last 30 Days": True, "plan": "pro", "isVip": True},
                "context": {"personas": PERSONAS}}
    assert profile_form(identify)["traits"] == {KEY: True, "plan": "pro", "isVip": True}
    no_key = {**identify, "context": {"personas": {"computation_class": "audience"}}, "traits": {"VIP Users": False}}
    assert profile_form(no_key)["traits"] == {"vip_users": False}
    plain = {**identify, "context": {}}
    assert profile_form(plain) is plain


@pytest.mark.parametrize("name, member", [("Audience Entered", True), ("Audience Exited", False)])
def test_extole_gets_the_audience_as_a_profile_parameter(name, member):
    assert extole_map(audience(name), ExtoleSettings().load({"api_key": "k"})) == {
        "path": "/v5/events",
        "body": {"event_name": "identify", "data": {
            KEY: member, "partner_user_id": "u1", "email": "ann@example.com", "event_time": "2026-11-23T10:00:00+0000"}},
    }


def test_extole_gets_an_audience_trait_in_another_case_under_its_key():
    identify = {"type": "identify", "userId": "u1", "timestamp": TS, "traits": {"Order Completed Last 30 Days": False},
                "context": {"personas": PERSONAS}}
    assert extole_map(identify, ExtoleSettings().load({"api_key": "k"}))["body"]["data"] == {
        "partner_user_id": "u1", KEY: False, "event_time": "2026-11-23T10:00:00+0000"}


@pytest.mark.parametrize("name, member", [("Audience Entered", True), ("Audience Exited", False)])
def test_custobar_gets_the_audience_as_a_company_field(name, member):
    assert custobar_map(audience(name), custobar_settings(company_prefix="acme")) == Upload(
        Endpoint.CUSTOMERS, [{"external_id": "u1", "email": "ann@example.com", f"acme__{KEY}": member}])


def test_custobar_skips_an_audience_it_has_no_field_for():
    with pytest.raises(SkippedEvent) as caught:
        custobar_map(audience("Audience Entered"), custobar_settings())
    assert str(caught.value) == (f"audience {KEY!r} has no Custobar field: set company_prefix "
                                 "(it becomes <company_prefix>__<audience key>, defined in Custobar's data schema)")


def yespo_settings(**over: Any) -> dict[str, Any]:
    return YespoSettings().load({"api_key": "k", **over})


@pytest.mark.parametrize("name, member", [("Audience Entered", "true"), ("Audience Exited", "false")])
def test_yespo_gets_the_audience_as_a_contact_field(name, member):
    call = yespo_map(audience(name), yespo_settings(contact_fields={KEY: 777}), now=datetime.now(timezone.utc))
    assert call == YespoCall(Kind.CONTACT, {
        "channels": [{"type": "email", "value": "ann@example.com"}], "externalCustomerId": "u1",
        "fields": [{"id": 777, "value": member}]})


def test_yespo_skips_an_audience_it_has_no_field_for_instead_of_sending_an_event():
    with pytest.raises(SkippedEvent) as caught:
        yespo_map(audience("Audience Entered"), yespo_settings(contact_fields={"email": 5}), now=datetime.now(timezone.utc))
    assert str(caught.value) == f"audience {KEY!r} has no Yespo field: map it in contact_fields (audience key -> additional field id)"


@pytest.mark.parametrize("name, member", [("Audience Entered", "true"), ("Audience Exited", "false")])
def test_sticky_street_gets_the_audience_in_its_custom_field(name, member):
    payload = sticky_map(audience(name), sticky_settings(custom_fields={KEY: "custom_field_3"}))
    assert payload == {"type": "customers_batch", "customer": {"code": "u1", "email": "ann@example.com", "custom_field_3": member}}


def test_sticky_street_skips_an_audience_it_has_no_field_for():
    with pytest.raises(SkippedEvent) as caught:
        sticky_map(audience("Audience Entered"), sticky_settings())
    assert str(caught.value) == f"audience {KEY!r} has no Sticky Street field: map it in custom_fields (audience key -> custom_field_N)"


def engage_identify(**traits: Any) -> dict[str, Any]:
    """The identify Engage sends a user-property destination when a user enters an audience."""
    return {"type": "identify", "userId": "u1", "messageId": "m-2", "timestamp": TS, "receivedAt": TS,
            "traits": {"email": "ann@example.com", **traits}, "context": {"personas": PERSONAS}, "integrations": {}}


@pytest.mark.parametrize("traits", [{KEY: True}, {"Order Completed Last 30 Days": False}])
def test_yespo_skips_an_audience_identify_it_has_no_field_for_instead_of_dropping_the_audience(traits):
    with pytest.raises(SkippedEvent) as caught:
        yespo_map(engage_identify(**traits), yespo_settings(), now=datetime.now(timezone.utc))
    assert str(caught.value) == (
        f"audience {KEY!r} has no Yespo field: map it in contact_fields (audience key -> additional field id)")


@pytest.mark.parametrize("traits", [{KEY: True}, {"Order Completed Last 30 Days": False}])
def test_sticky_street_skips_an_audience_identify_it_has_no_field_for_instead_of_dropping_the_audience(traits):
    with pytest.raises(SkippedEvent) as caught:
        sticky_map(engage_identify(**traits), sticky_settings())
    assert str(caught.value) == (
        f"audience {KEY!r} has no Sticky Street field: map it in custom_fields (audience key -> custom_field_N)")


def test_custobar_skips_an_audience_identify_it_has_no_field_for_instead_of_leaving_the_audience_out():
    with pytest.raises(SkippedEvent, match=f"audience {KEY!r} has no Custobar field"):
        custobar_map(engage_identify(**{KEY: True}), custobar_settings())


def test_an_audience_identify_with_a_mapped_field_reaches_each_profile_destination():
    event = engage_identify(**{"Order Completed Last 30 Days": True})
    call = yespo_map(event, yespo_settings(contact_fields={KEY: 777}), now=datetime.now(timezone.utc))
    assert call.body["fields"] == [{"id": 777, "value": "true"}]
    sticky = sticky_map(event, sticky_settings(custom_fields={KEY: "custom_field_3"}))
    assert sticky["customer"] == {"code": "u1", "email": "ann@example.com", "custom_field_3": "true"}
    assert custobar_map(event, custobar_settings(company_prefix="acme")).records == [
        {"external_id": "u1", "email": "ann@example.com", f"acme__{KEY}": True}]
