"""The Extole client against a fake Extole over real HTTP: every answer becomes the right outcome."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from destinations.base import OutcomeStatus
from destinations.extole.client import ExtoleClient
from destinations.extole.settings import ExtoleSettings
from router.errors import RejectedEvent, RetryableError
from tests.destinations.extole.fake_extole import API_KEY, FakeExtole, Reply, error

CONVERSION = {
    "path": "/v5/events",
    "body": {"event_name": "conversion", "data": {"email": "a@example.com", "event_time": "2026-11-23T10:00:00+0000"}},
}
ERASURE = {"path": "/v4/erasures", "body": {"partner_user_id": "u-1", "note": "n"}}


@pytest.fixture
def extole() -> Iterator[FakeExtole]:
    with FakeExtole() as server:
        yield server


def client(server: FakeExtole, **over: Any) -> ExtoleClient:
    return ExtoleClient(ExtoleSettings().load({"api_key": API_KEY, "base_url": server.base_url, "timeout": 2, **over}))


def test_a_call_is_posted_as_json_with_the_bearer_token(extole):
    outcome = client(extole).post(CONVERSION)
    assert outcome.status is OutcomeStatus.DELIVERED and outcome.http_status == 200
    [req] = extole.requests
    assert (req.method, req.path) == ("POST", "/v5/events")
    assert req.headers["Authorization"] == f"Bearer {API_KEY}"
    assert req.headers["Content-Type"] == "application/json"
    assert req.json() == CONVERSION["body"]


def test_utf8_names_cross_the_wire_unescaped_and_intact(extole):
    payload = {"path": "/v5/events", "body": {"event_name": "identify", "data": {"email": "z@example.com", "first_name": "Zoë Ångström"}}}
    client(extole).post(payload)
    assert "Zoë Ångström".encode() in extole.requests[0].body
    assert extole.requests[0].json() == payload["body"]


def test_v6_async_events_answer_202_and_is_delivered(extole):
    outcome = client(extole).post({**CONVERSION, "path": "/v6/async-events"})
    assert (outcome.status, outcome.http_status) == (OutcomeStatus.DELIVERED, 202)


def test_a_wrong_api_key_is_rejected_saying_the_key_is_wrong_or_expired_without_showing_it(extole):
    with pytest.raises(RejectedEvent) as exc:
        client(extole, api_key="old-key-123").post(CONVERSION)
    assert exc.value.reason == "Extole API key is wrong or expired (code invalid_access_token)"
    assert exc.value.status == 401
    assert "old-key-123" not in exc.value.reason + (exc.value.response or "")


def test_an_expired_token_names_extoles_code(extole):
    extole.script.append(error(401, "expired_access_token", "Token expired"))
    with pytest.raises(RejectedEvent, match=r"wrong or expired \(code expired_access_token\)"):
        client(extole).post(CONVERSION)


@pytest.mark.parametrize(
    "status, code, message",
    [
        (400, "event_blocked", "The event was blocked"),
        (402, "payment_required", "This feature is not enabled"),
        (403, "scopes_denied", "The token lacks the events scope"),
        (415, "unsupported_media_type", "Content-Type must be application/json"),
    ],
)
def test_refusals_are_rejected_with_extoles_code_and_message(extole, status, code, message):
    extole.script.append(error(status, code, message))
    with pytest.raises(RejectedEvent) as exc:
        client(extole).post(CONVERSION)
    assert exc.value.reason == f"Extole refused the call ({status}): {code}: {message}"
    assert exc.value.status == status
    assert '"unique_id": "6f1c2a"' in exc.value.response


def test_a_bad_event_time_is_refused_by_the_fake_like_extole(extole):
    payload = {"path": "/v5/events", "body": {"event_name": "x", "data": {"email": "a@example.com", "event_time": "23/11/2026"}}}
    with pytest.raises(RejectedEvent, match="invalid_event_time_format: event_time must be ISO 8601"):
        client(extole).post(payload)


def test_a_refusal_without_an_error_body_says_so(extole):
    extole.script.append(Reply(400, "<html>Bad Request</html>"))
    with pytest.raises(RejectedEvent) as exc:
        client(extole).post(CONVERSION)
    assert exc.value.reason == "Extole refused the call (400) without an error body"
    assert exc.value.response == "<html>Bad Request</html>"


def test_too_many_requests_is_retried_after_the_time_extole_asks(extole):
    extole.script.append(Reply(429, {"code": "too_many_requests"}, headers={"Retry-After": "7"}))
    with pytest.raises(RetryableError) as exc:
        client(extole).post(CONVERSION)
    assert (exc.value.status, exc.value.retry_after) == (429, 7.0)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried(extole, status):
    extole.script.append(error(status, "server_error", "oops"))
    with pytest.raises(RetryableError) as exc:
        client(extole).post(CONVERSION)
    assert exc.value.status == status


def test_a_timeout_is_retried(extole):
    extole.script.append(Reply(200, {}, delay=0.5))
    with pytest.raises(RetryableError, match="did not answer in time"):
        client(extole, timeout=0.2).post(CONVERSION)


def test_an_unreachable_extole_is_retried():
    with FakeExtole() as gone:
        url = gone.base_url
    settings = ExtoleSettings().load({"api_key": API_KEY, "base_url": url, "timeout": 1})
    with pytest.raises(RetryableError, match="could not connect to Extole"):
        ExtoleClient(settings).post(CONVERSION)


def test_an_empty_204_is_a_misrouted_request_and_rejected_by_default(extole):
    with pytest.raises(RejectedEvent) as exc:
        client(extole).post({**CONVERSION, "path": "/v5/event"})
    assert "misrouted" in exc.value.reason and exc.value.status == 204


def test_an_empty_204_can_be_retried_or_counted_as_delivered_by_setting(extole):
    with pytest.raises(RetryableError, match="misrouted"):
        client(extole, on_empty_204="retry").post({**CONVERSION, "path": "/v5/event"})
    assert client(extole, on_empty_204="deliver").post({**CONVERSION, "path": "/v5/event"}).status is OutcomeStatus.DELIVERED


def test_erasure_is_posted_to_v4_erasures_and_delivered(extole):
    outcome = client(extole).post(ERASURE)
    assert outcome.status is OutcomeStatus.DELIVERED
    assert extole.requests[0].path == "/v4/erasures" and extole.requests[0].json() == ERASURE["body"]


def test_a_404_to_an_erasure_is_rejected_unless_the_setting_says_it_means_done(extole):
    """Extole documents no 404 for erasures: by default it may be a wrong host or path, and a GDPR
    erasure must not count as done on its word; erasure_404: done is there once it is known."""
    extole.script.append(error(404, "person_not_found", "No such person"))
    with pytest.raises(RejectedEvent, match=r"Extole answered 404: person_not_found: No such person"):
        client(extole).post(ERASURE)
    extole.script.append(error(404, "person_not_found", "No such person"))
    assert client(extole, erasure_404="done").post(ERASURE).status is OutcomeStatus.DELIVERED


def test_a_404_on_an_event_is_rejected_with_extoles_code(extole):
    extole.script.append(error(404, "not_found", "No such endpoint"))
    with pytest.raises(RejectedEvent, match=r"Extole answered 404: not_found: No such endpoint"):
        client(extole).post(CONVERSION)


def test_events_go_to_events_base_url_and_erasures_to_base_url():
    with FakeExtole() as api, FakeExtole() as events:
        c = client(api, events_base_url=events.base_url)
        c.post(CONVERSION)
        c.post(ERASURE)
        assert [r.path for r in events.requests] == ["/v5/events"]
        assert [r.path for r in api.requests] == ["/v4/erasures"]
