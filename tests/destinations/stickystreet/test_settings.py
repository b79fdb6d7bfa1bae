"""Settings: the API's parameter names, conservative defaults, errors found at start-up."""
from __future__ import annotations

import pytest
from marshmallow import ValidationError

from destinations.base import secret_values
from destinations.stickystreet.settings import StickyStreetSettings

MINIMAL = {"user_id": "john1970", "user_api_key": "k-123", "account_id": "greatwidgets", "campaigns_to_include": "898989889"}


def test_minimal_settings_get_the_documented_defaults():
    loaded = StickyStreetSettings().load(MINIMAL)
    assert {k: loaded[k] for k in ("base_url", "path", "delimiter", "overwrite_duplicates", "output", "allow_undo",
                                   "card_number_generate", "card_number", "record_activity", "campaigns_to_include")} == {
        "base_url": "https://api.clienttoolbox.com", "path": "/api.php", "delimiter": "pipe",
        "overwrite_duplicates": "update", "output": "XML", "allow_undo": False, "card_number_generate": None,
        "card_number": "trait", "record_activity": False, "campaigns_to_include": ["898989889"],
    }


def test_the_api_key_is_the_secret():
    assert secret_values(StickyStreetSettings(), StickyStreetSettings().load(MINIMAL)) == ["k-123"]


@pytest.mark.parametrize(
    "campaigns, expected",
    [("aaaa,bbbb, cccc", ["aaaa", "bbbb", "cccc"]), (898989889, ["898989889"]), ([1, "b"], ["1", "b"])],
)
def test_campaigns_to_include_take_a_comma_list_a_number_or_a_yaml_list(campaigns, expected):
    assert StickyStreetSettings().load({**MINIMAL, "campaigns_to_include": campaigns})["campaigns_to_include"] == expected


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"campaigns_to_include": ""}, "campaigns_to_include"),
        ({"user_api_key": ""}, "user_api_key"),
        ({"delimiter": "semicolon"}, "delimiter"),
        ({"overwrite_duplicates": "merge"}, "overwrite_duplicates"),
        ({"output": "csv"}, "output"),
        ({"record_activity": True}, "campaign_id"),
        ({"custom_fields": {"store": "field_1"}}, "custom_fields"),
        # a YAML block scalar ends in a newline, which "$" lets through into profiles_header_N
        ({"custom_fields": {"store": "custom_field_1\n"}}, "custom_fields"),
        ({"custom_fields": {"a": "custom_field_1", "b": "custom_field_1"}}, "custom_fields"),
        ({"card_number_generate": 0}, "card_number_generate"),
        ({"auto_add": True}, "auto_add"),
    ],
)
def test_wrong_settings_are_refused_at_start_up_naming_the_setting(overrides, field):
    with pytest.raises(ValidationError) as exc:
        StickyStreetSettings().load({**MINIMAL, **overrides})
    assert field in exc.value.messages


def test_missing_credentials_are_refused():
    with pytest.raises(ValidationError) as exc:
        StickyStreetSettings().load({})
    assert set(exc.value.messages) == {"user_id", "user_api_key", "account_id", "campaigns_to_include"}
