"""The shared HTTP client's reading of vendor answers."""
from __future__ import annotations

import email.utils
import time

import pytest

from destinations.errors import RejectedEvent
from destinations.http import MAX_RETRY_AFTER, HttpClient, parse_retry_after
from tests.fakes.http import FakeServer


@pytest.mark.parametrize("value, seconds", [
    ("30", 30.0), (" 2.5 ", 2.5), ("0", 0.0), ("-30", 0.0), ("-inf", 0.0),
    ("inf", MAX_RETRY_AFTER), ("1e308", MAX_RETRY_AFTER), ("1e999", MAX_RETRY_AFTER),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER),
    ("nan", None), ("soon", None), ("", None), (None, None),
])
def test_retry_after_is_a_finite_wait_between_zero_and_the_maximum(value, seconds):
    assert parse_retry_after(value) == seconds


def test_retry_after_as_an_http_date_is_the_seconds_until_then():
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    assert 118 <= parse_retry_after(when) <= 120


@pytest.mark.parametrize("path, headers, error", [
    ("/x", {"X-Token": "secret\r\nX-Evil: 1"}, "InvalidHeader"),
    ("http://[::1/x", {}, "InvalidURL"),
])
def test_a_request_that_can_never_be_sent_is_rejected_not_retried(path, headers, error):
    with FakeServer() as vendor:
        client = HttpClient(vendor.base_url, vendor="Acme")
        with pytest.raises(RejectedEvent) as caught:
            client.request("GET", path, headers=headers)
        assert str(caught.value) == f"the request to Acme cannot be sent ({error})"
        assert "secret" not in str(caught.value)
        assert vendor.requests == []
