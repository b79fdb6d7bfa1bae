"""The settings a Custobar destination is configured with, checked at start-up."""
from __future__ import annotations

import pytest
from marshmallow import ValidationError

from destinations.base import secret_values
from destinations.custobar.settings import DEFAULT_EVENT_TYPES, CustobarSettings
from tests.destinations.custobar.conftest import load_settings


def test_the_host_comes_from_the_company_name():
    settings = load_settings()
    assert settings["base_url"] == "https://acme.custobar.com"
    assert (settings["auth_scheme"], settings["events_path"], settings["external_id_rule"]) == ("Token", "/api/events/", "reject")
    assert settings["event_types"] == DEFAULT_EVENT_TYPES


@pytest.mark.parametrize("base_url", ["https://dev.custobar.com", "https://dev.custobar.com/", "https://dev.custobar.com/api/"])
def test_base_url_wins_over_company_and_may_be_copied_with_api(base_url):
    assert load_settings(base_url=base_url)["base_url"] == "https://dev.custobar.com"


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        ({"token": "t"}, "company", "set company"),
        ({"company": "acme"}, "token", "set token, or username and password"),
        ({"company": "acme", "username": "u"}, "token", "set token, or username and password"),
        ({"company": "acme", "token": "t", "username": "u", "password": "p"}, "token", "not both"),
        ({"company": "acme", "token": "t", "auth_scheme": "Basic"}, "auth_scheme", "Must be one of"),
        ({"company": "acme.example", "token": "t"}, "company", "String does not match"),
        ({"company": "acme", "token": "t", "event_types": {"Product Viewed": "browse"}}, "event_types", "capitals"),
        ({"company": "acme", "token": "t", "external_id_rule": "truncate"}, "external_id_rule", "Must be one of"),
        ({"company": "acme", "token": "t", "company_prefix": "acme__"}, "company_prefix", "String does not match"),
        # a YAML block scalar ends in a newline, which "$" lets through
        ({"company": "acme\n", "token": "t"}, "company", "String does not match"),
        ({"company": "acme", "token": "t", "event_types": {"Product Viewed": "BROWSE\n"}}, "event_types", "capitals"),
        ({"company": "acme", "token": "t", "default_region": "FI\n"}, "default_region", "String does not match"),
    ],
)
def test_a_wrong_configuration_is_refused_naming_the_setting(raw, field, message):
    with pytest.raises(ValidationError) as caught:
        CustobarSettings().load(raw)
    assert message in str(caught.value.messages[field])


def test_token_and_password_are_secrets():
    schema = CustobarSettings()
    assert secret_values(schema, schema.load({"company": "acme", "token": "tok-1"})) == ["tok-1"]
    assert secret_values(schema, schema.load({"company": "acme", "username": "u", "password": "pw-1"})) == ["pw-1"]


def test_region_and_currency_are_upper_cased():
    settings = load_settings(default_region="fi", account_currency="eur")
    assert (settings["default_region"], settings["account_currency"]) == ("FI", "EUR")
