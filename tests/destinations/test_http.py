"""The shared HTTP client's reading of vendor answers."""
from __future__ import annotations

import email.utils
import time

import pytest

from destinations.errors import RejectedEvent
from destinations.http import MAX_RETRY_AFTER, HttpClient, parse_retry_after
from tests.fakes.http import FakeServer, Reply


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


def test_a_redirect_is_answered_to_the_client_not_followed():
    """Followed, a POST would become a GET without its body at the new place (the event lost, and
    counted delivered by a 200 there), and the vendor's token headers would go along."""
    with FakeServer() as elsewhere, FakeServer(lambda req: Reply(301, "", {"Location": elsewhere.base_url + "/in"})) as vendor:
        client = HttpClient(vendor.base_url, vendor="Acme", headers={"X-Api-Key": "k-1"})
        response = client.post("/events", json={"event": "A"})
        assert response.status_code == 301
        assert elsewhere.requests == []


def test_a_webhook_whose_url_redirects_dead_letters_the_event_with_the_status(make_runtime):
    from tests.helpers import webhook_destination, work

    with FakeServer() as elsewhere, FakeServer(lambda req: Reply(308, "", {"Location": elsewhere.base_url + "/in"})) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        rt.enqueue("hook", [{"type": "track", "userId": "u1", "event": "A", "messageId": "m-1"}])
        work(rt)
        ((_, dead),) = rt.queue.dead_letters("hook")
        assert dead["status"] == 308 and "308" in dead["reason"]
        assert elsewhere.requests == []
