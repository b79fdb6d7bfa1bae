"""The config's value types: durations in every form the README uses, and what is not one."""
from __future__ import annotations

import pytest

from router.config_fields import parse_duration


@pytest.mark.parametrize("text, seconds", [(30, 30.0), (1.5, 1.5), ("30s", 30.0), ("5m", 300.0), ("4h", 14400.0),
                                           ("7d", 604800.0), ("500ms", 0.5), (" 2 h ", 7200.0), ("0", 0.0)])
def test_a_duration_is_read_in_each_form_the_readme_shows(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("value", [-5, -0.5, float("nan"), float("inf"), 10**400, "9" * 400 + "s"])
def test_a_negative_endless_or_not_a_number_duration_is_refused_with_a_message(value):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(value)
