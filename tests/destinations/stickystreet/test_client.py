"""The client against a fake Sticky Street: what crosses the wire and how answers become outcomes."""
from __future__ import annotations

import pytest

from destinations.base import Outcome, OutcomeStatus
from destinations.stickystreet.client import StickyStreetClient
from router.errors import RejectedEvent, RetryableError
from tests.destinations.stickystreet.conftest import settings
from tests.destinations.stickystreet.fake_stickystreet import ACCOUNT_ID, API_KEY, USER_ID
from tests.fakes.http import Reply

DELETE = {"type": "customer_delete", "code": "u-1"}
IMPORT = {
    "type": "customers_batch", "delimiter": "pipe", "overwrite_duplicates": "update",
    "campaigns_to_include": "898989889", "profiles_header_1": "code", "profiles_header_2": "email",
    "profiles_data": "u-1|a@example.com\n",
}


@pytest.fixture
def client(vendor):
    def make(**overrides):
        return StickyStreetClient(settings(base_url=vendor.base_url, **overrides))
    return make


def outcome_of(call) -> Outcome:
    """The outcome a call ends in, whether returned or raised."""
    try:
        return call()
    except (RejectedEvent, RetryableError) as exc:
        return Outcome.from_error(exc)


def test_every_call_is_a_form_post_to_api_php_with_the_credentials_added_at_send_time(vendor, client):
    outcome = client().call(IMPORT)
    assert outcome.status is OutcomeStatus.DELIVERED
    (req,) = vendor.requests
    assert (req.method, req.path) == ("POST", "/api.php")
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert req.form() == {"API": "1.5", "user_id": USER_ID, "user_api_key": API_KEY, "account_id": ACCOUNT_ID, **IMPORT}
    assert vendor.customers == {"u-1": {"code": "u-1", "email": "a@example.com"}}


def test_a_custom_path_and_json_output_are_asked_for_and_the_json_answer_read(vendor, client):
    vendor.customers["u-1"] = {"code": "u-1"}
    outcome = client(output="json").call(DELETE)
    assert outcome.status is OutcomeStatus.DELIVERED
    assert vendor.requests[0].form()["output"] == "JSON"
    assert outcome.response == '{"response": {"status": "success"}}'
    assert vendor.deleted == ["u-1"]


def test_xml_output_is_the_default_and_not_sent(vendor, client):
    client().call(IMPORT)
    assert "output" not in vendor.requests[0].form()


@pytest.mark.parametrize("output", ["XML", "JSON"])
def test_an_error_answer_rejects_with_the_vendors_message_and_never_the_key(vendor, client, output):
    outcome = outcome_of(lambda: client(user_api_key="wrong-key", output=output).call(IMPORT))
    assert outcome.status is OutcomeStatus.REJECTED
    assert outcome.reason == "Sticky Street refused customers_batch: Invalid user_id, user_api_key or account_id"
    assert outcome.http_status == 200
    assert "wrong-key" not in outcome.reason + outcome.response


def test_a_key_echoed_back_by_the_vendor_is_redacted_from_reason_and_response(vendor, client):
    vendor.script(Reply(200, f'<response status="error"><error>Bad key {API_KEY}</error></response>'))
    outcome = outcome_of(lambda: client().call(IMPORT))
    assert outcome.reason == "Sticky Street refused customers_batch: Bad key [redacted]"
    assert API_KEY not in outcome.response


@pytest.mark.parametrize(
    "message",
    ["The service is busy, please try again later", "Server temporarily unavailable", "Too many requests"],
)
def test_an_error_saying_the_service_is_busy_is_retried(vendor, client, message):
    vendor.script(Reply(200, f'<response status="error"><error>{message}</error></response>'))
    outcome = outcome_of(lambda: client().call(IMPORT))
    assert outcome.status is OutcomeStatus.RETRY
    assert outcome.reason == f"Sticky Street is busy: {message}"


def test_busy_wording_is_a_setting(vendor, client):
    vendor.script(Reply(200, '<response status="error"><error>Queue full</error></response>'))
    assert outcome_of(lambda: client(retry_errors=["queue full"]).call(IMPORT)).status is OutcomeStatus.RETRY


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_5xx_and_429_are_retried_even_with_an_error_body(vendor, client, status):
    vendor.script(Reply(status, '<response status="error"><error>Database error</error></response>',
                        {"Retry-After": "7"}))
    outcome = outcome_of(lambda: client().call(IMPORT))
    assert (outcome.status, outcome.http_status, outcome.retry_after) == (OutcomeStatus.RETRY, status, 7.0)


@pytest.mark.parametrize(
    "body",
    [
        '<response status="success"><batch status="imported"><customers><new>1</new>',
        "<br />\n<b>Fatal error</b>: Maximum execution time exceeded in api.php",
        "",
    ],
)
def test_a_malformed_2xx_answer_is_retried_quoting_an_excerpt(vendor, client, body):
    vendor.script(Reply(200, body))
    outcome = outcome_of(lambda: client().call(IMPORT))
    assert outcome.status is OutcomeStatus.RETRY
    assert "not its answer" in outcome.reason
    assert repr(body[:200]) in outcome.reason
    assert outcome.response == body


def test_a_4xx_that_is_not_an_answer_is_rejected_with_its_status(vendor, client):
    outcome = outcome_of(lambda: client(path="/wrong.php").call(IMPORT))
    assert (outcome.status, outcome.reason) == (OutcomeStatus.REJECTED, "Sticky Street answered 404 to customers_batch")


def test_a_4xx_with_an_error_answer_is_rejected_with_its_message(vendor, client):
    vendor.script(Reply(403, '<response status="error"><error>Account suspended</error></response>'))
    outcome = outcome_of(lambda: client().call(IMPORT))
    assert (outcome.status, outcome.http_status, outcome.reason) == (
        OutcomeStatus.REJECTED, 403, "Sticky Street refused customers_batch: Account suspended")


def test_the_docs_own_success_example_counts_as_delivered_unless_lenient_xml_is_off(vendor, client):
    vendor.doc_style_xml = True
    assert client().call(IMPORT).status is OutcomeStatus.DELIVERED
    assert outcome_of(lambda: client(lenient_xml=False).call(IMPORT)).status is OutcomeStatus.RETRY


def test_deleting_a_customer_the_vendor_does_not_know_counts_as_done(vendor, client):
    outcome = client().call(DELETE)
    assert outcome.status is OutcomeStatus.DELIVERED
    assert "Customer not found" in outcome.response


def test_not_found_on_other_calls_is_a_rejection(vendor, client):
    form = {"type": "record_activity", "code": "nobody", "campaign_id": "1", "amount": "1.00"}
    outcome = outcome_of(lambda: client().call(form))
    assert (outcome.status, outcome.reason) == (OutcomeStatus.REJECTED, "Sticky Street refused record_activity: Customer not found")


def test_a_vendor_that_does_not_answer_in_time_means_retry(vendor, client):
    vendor.script(Reply(200, '<response status="success"></response>', delay=0.5))
    outcome = outcome_of(lambda: client(timeout=0.2).call(IMPORT))
    assert outcome.status is OutcomeStatus.RETRY
    assert "did not answer in time" in outcome.reason
