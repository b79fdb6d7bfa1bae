"""The HTTP side against a fake Custobar: auth, paths, JSON wrapper, and what each answer means."""
from __future__ import annotations

import pytest

from destinations.base import OutcomeStatus
from destinations.custobar.client import CustobarClient
from destinations.custobar.upload import Endpoint
from router.errors import RejectedEvent, RetryableError
from tests.destinations.custobar.conftest import TOKEN, load_settings
from tests.destinations.custobar.fake_custobar import FakeCustobar, Reply, refusal

CUSTOMER = {"external_id": "user-1", "email": "ada@example.com"}


def client_for(vendor: FakeCustobar, **settings) -> CustobarClient:
    return CustobarClient(load_settings(base_url=vendor.base_url, **settings))


def test_uploads_customers_as_a_wrapped_json_list_with_the_token():
    with FakeCustobar() as vendor:
        outcome = client_for(vendor).upload(Endpoint.CUSTOMERS, [CUSTOMER])
    assert outcome.status is OutcomeStatus.DELIVERED and outcome.http_status == 200
    [req] = vendor.requests
    assert (req.method, req.path) == ("POST", "/api/customers/upload/")
    assert req.headers["Authorization"] == f"Token {TOKEN}"
    assert req.headers["Content-Type"] == "application/json"
    assert req.json() == {"customers": [CUSTOMER]}


@pytest.mark.parametrize(("endpoint", "path"), [(Endpoint.SALES, "/api/sales/upload/"), (Endpoint.EVENTS, "/api/events/")])
def test_sales_and_events_go_to_their_own_endpoints(endpoint, path):
    record = ({"sale_external_id": "o-1", "sale_date": "2026-11-23", "product_id": "p"} if endpoint is Endpoint.SALES
              else {"type": "BROWSE", "date": "2026-11-23", "customer_id": "user-1"})
    with FakeCustobar() as vendor:
        assert client_for(vendor).upload(endpoint, [record]).status is OutcomeStatus.DELIVERED
    assert vendor.requests[0].path == path
    assert vendor.accepted[endpoint.value] == [record]


def test_the_events_path_is_a_setting_because_the_docs_disagree():
    with FakeCustobar() as vendor, pytest.raises(RejectedEvent, match=r"\(404\): Not found"):
        client_for(vendor, events_path="/api/events/upload/").upload(Endpoint.EVENTS, [{"type": "BROWSE"}])
    assert vendor.requests[0].path == "/api/events/upload/"


def test_newer_accounts_use_a_bearer_token():
    with FakeCustobar(scheme="Bearer") as vendor:
        assert client_for(vendor, auth_scheme="Bearer").upload(Endpoint.CUSTOMERS, [CUSTOMER]).status is OutcomeStatus.DELIVERED
        with pytest.raises(RejectedEvent) as caught:
            client_for(vendor).upload(Endpoint.CUSTOMERS, [CUSTOMER])
    assert caught.value.status == 401
    assert vendor.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in caught.value.reason + (caught.value.response or "")


def test_basic_auth_is_the_alternative_to_a_token():
    with FakeCustobar(basic=("api-user", "s3cret-pw")) as vendor:
        client = CustobarClient(load_settings(token=None, username="api-user", password="s3cret-pw", base_url=vendor.base_url))
        assert client.upload(Endpoint.CUSTOMERS, [CUSTOMER]).status is OutcomeStatus.DELIVERED


def test_basic_auth_sends_a_password_beyond_latin_1_as_utf_8():
    """requests encodes a str password as Latin-1: a "€" made every upload fail with
    UnicodeEncodeError before it was sent. Basic auth credentials are UTF-8 (RFC 7617)."""
    with FakeCustobar(basic=("api-user", "sä€ret")) as vendor:
        client = CustobarClient(load_settings(token=None, username="api-user", password="sä€ret", base_url=vendor.base_url))
        assert client.upload(Endpoint.CUSTOMERS, [CUSTOMER]).status is OutcomeStatus.DELIVERED


def test_a_refused_upload_is_rejected_with_custobars_reason():
    with FakeCustobar() as vendor, pytest.raises(RejectedEvent) as caught:
        client_for(vendor).upload(Endpoint.CUSTOMERS, [{"first_name": "Ada"}])
    assert caught.value.status == 400
    assert caught.value.reason == "Custobar refused the upload (400): customers[0]: one of external_id, phone_number or email is required"
    assert '"reason"' in caught.value.response


@pytest.mark.parametrize(
    ("reply", "retry_after"),
    [(Reply(429, {"detail": "Request was throttled."}, {"Retry-After": "7"}), 7.0), (Reply(500, "Server Error"), None), (Reply(503, ""), None)],
)
def test_throttling_and_server_errors_are_retried(reply, retry_after):
    with FakeCustobar() as vendor:
        vendor.script(reply)
        with pytest.raises(RetryableError) as caught:
            client_for(vendor).upload(Endpoint.CUSTOMERS, [CUSTOMER])
    assert caught.value.status == reply.status
    assert caught.value.retry_after == retry_after


def test_an_error_in_a_success_answer_is_not_taken_for_delivery():
    with FakeCustobar() as vendor:
        vendor.script(refusal(200, "no such mailing list"))
        with pytest.raises(RejectedEvent, match=r"\(200\): no such mailing list"):
            client_for(vendor).upload(Endpoint.CUSTOMERS, [CUSTOMER])


def test_every_request_waits_for_the_shared_rate_limit():
    calls = []
    with FakeCustobar() as vendor:
        client = CustobarClient(load_settings(base_url=vendor.base_url), throttle=lambda: calls.append(1))
        client.upload(Endpoint.CUSTOMERS, [CUSTOMER])
        client.upload(Endpoint.CUSTOMERS, [CUSTOMER])
    assert len(calls) == len(vendor.requests) == 2
