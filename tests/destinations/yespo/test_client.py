"""YespoClient against the fake Yespo: auth, paths, bodies, and how each answer becomes an outcome."""
from __future__ import annotations

import base64
from typing import Any

import pytest

from destinations.base import OutcomeStatus
from destinations.yespo.client import YespoClient
from destinations.yespo.settings import YespoSettings
from router.errors import RejectedEvent, RetryableError
from tests.destinations.yespo.fake_yespo import API_KEY, FakeYespo
from tests.fakes.http import Reply

EVENT = {"eventTypeKey": "Signed Up", "keyValue": "ann@example.com", "params": [{"name": "plan", "value": "pro"}]}
CONTACT = {"channels": [{"type": "email", "value": "ann@example.com"}], "firstName": "Ann", "externalCustomerId": "u1"}


def client_for(vendor: FakeYespo, **overrides: Any) -> YespoClient:
    settings = YespoSettings().load({"base_url": vendor.base_url, "api_key": API_KEY, "timeout": 2, **overrides})
    return YespoClient(settings)


def past(key: str, occurred: str = "2023-03-22T14:30") -> dict[str, Any]:
    return {"eventTypeKey": key, "keyValue": "ann@example.com", "params": [], "occurred": occurred}


def test_requests_use_basic_auth_with_an_empty_username_and_the_key_as_password(vendor: FakeYespo) -> None:
    client_for(vendor).send_event(EVENT)
    token = base64.b64encode(f":{API_KEY}".encode()).decode()
    assert vendor.requests[0].headers["Authorization"] == f"Basic {token}"


def test_username_is_a_setting(vendor: FakeYespo) -> None:
    client_for(vendor, username="shop").send_event(EVENT)
    token = base64.b64encode(f"shop:{API_KEY}".encode()).decode()
    assert vendor.requests[0].headers["Authorization"] == f"Basic {token}"


def test_event_is_posted_as_json_to_v1_event(vendor: FakeYespo) -> None:
    outcome = client_for(vendor).send_event(EVENT)
    req = vendor.requests[0]
    assert (req.method, req.path, req.headers["Content-Type"]) == ("POST", "/api/v1/event", "application/json")
    assert req.json() == EVENT
    assert (outcome.status, outcome.http_status) == (OutcomeStatus.DELIVERED, 200)


def test_event_goes_to_v2_when_set(vendor: FakeYespo) -> None:
    client_for(vendor, api_version="v2").send_event({**EVENT, "params": [{"name": "cart", "value": {"id": 1}}]})
    assert vendor.requests[0].path == "/api/v2/event"


def test_non_ascii_bodies_are_sent_as_utf8_json(vendor: FakeYespo) -> None:
    body = {**EVENT, "params": [{"name": "city", "value": "Київ"}]}
    client_for(vendor).send_event(body)
    assert vendor.requests[0].json() == body
    assert "Київ".encode() in vendor.requests[0].body


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_retried_with_retry_after(vendor: FakeYespo, status: int) -> None:
    vendor.script("POST", "/api/v1/event", Reply(status, {"error": "Too many requests"}, headers={"Retry-After": "7"}))
    with pytest.raises(RetryableError) as exc:
        client_for(vendor).send_event(EVENT)
    assert (exc.value.status, exc.value.retry_after) == (status, 7.0)


def test_a_bad_request_is_rejected_with_yespos_body(vendor: FakeYespo) -> None:
    with pytest.raises(RejectedEvent) as exc:
        client_for(vendor).send_event({**EVENT, "eventTypeKey": "a/b"})
    assert exc.value.status == 400
    assert "invalid eventTypeKey 'a/b'" in exc.value.response


def test_a_wrong_key_is_rejected_without_the_key_in_the_outcome(vendor: FakeYespo) -> None:
    client = client_for(vendor, api_key="not-the-key")
    with pytest.raises(RejectedEvent) as exc:
        client.send_event(EVENT)
    assert (exc.value.status, exc.value.reason) == (401, "Yespo answered 401")
    assert "not-the-key" not in f"{exc.value.reason}{exc.value.response}"


def test_contact_upsert_posts_one_contact(vendor: FakeYespo) -> None:
    outcome = client_for(vendor).upsert_contact(CONTACT)
    assert (vendor.requests[0].path, vendor.requests[0].json()) == ("/api/v1/contact", CONTACT)
    assert outcome.status is OutcomeStatus.DELIVERED


def test_contact_repeated_within_a_minute_409_counts_as_delivered(vendor: FakeYespo) -> None:
    client = client_for(vendor)
    client.upsert_contact(CONTACT)
    outcome = client.upsert_contact(CONTACT)
    assert (outcome.status, outcome.http_status) == (OutcomeStatus.DELIVERED, 409)


def test_contact_409_is_retried_when_the_setting_says_it_is_not_delivered(vendor: FakeYespo) -> None:
    client = client_for(vendor, treat_409_as_delivered=False)
    client.upsert_contact(CONTACT)
    with pytest.raises(RetryableError) as exc:
        client.upsert_contact(CONTACT)
    assert exc.value.status == 409


@pytest.mark.parametrize("suffix", ["", "/api/v1", "/api/v2/", "/api"])
def test_delete_erases_by_external_customer_id_also_with_a_base_url_copied_with_its_api_path(
        vendor: FakeYespo, suffix: str) -> None:
    """Yespo's docs write the base as https://yespo.io/api/v1: pasted as base_url, every path
    doubled (/api/v1/api/v1/contact) and the 404 made a GDPR delete count as done, unerased."""
    client = client_for(vendor, base_url=vendor.base_url + suffix)
    client.upsert_contact(CONTACT)
    outcome = client.delete_contact("u1")
    req = vendor.requests[-1]
    assert (req.method, req.path, req.query) == ("DELETE", "/api/v1/contact", {"externalCustomerId": ["u1"], "erase": ["true"]})
    assert (outcome.status, outcome.http_status) == (OutcomeStatus.DELIVERED, 200)
    assert vendor.contacts == {}


def test_delete_of_an_unknown_contact_404_counts_as_done(vendor: FakeYespo) -> None:
    outcome = client_for(vendor).delete_contact("nobody")
    assert (outcome.status, outcome.http_status) == (OutcomeStatus.DELIVERED, 404)


def test_past_events_answer_a_status_per_event_in_order(vendor: FakeYespo) -> None:
    vendor.statuses = {"Old Thing": "OCCURRED_TIME_TOO_DEPTH", "Unsegmented": "EVENT_SEGMENTATION_DISABLED"}
    events = [past("Signed Up"), past("Old Thing"), past("Signed Up", "22.03.2023"), past("Unsegmented")]
    statuses = client_for(vendor).past_event_statuses(events)
    assert vendor.requests[0].path == "/api/v1/past_events"
    assert vendor.requests[0].json() == {"events": events}
    assert statuses == ["ACCEPTED", "OCCURRED_TIME_TOO_DEPTH", "INCORRECT_OCCURRED_DATE_FORMAT", "EVENT_SEGMENTATION_DISABLED"]


@pytest.mark.parametrize(
    "status, outcome, reason",
    [
        ("ACCEPTED", OutcomeStatus.DELIVERED, ""),
        ("SERVER_ERROR", OutcomeStatus.RETRY, "Yespo answered SERVER_ERROR for this past event"),
        ("OCCURRED_TIME_IN_FUTURE", OutcomeStatus.REJECTED, "Yespo refused the past event: OCCURRED_TIME_IN_FUTURE (occurred is in the future)"),
        ("OCCURRED_TIME_TOO_DEPTH", OutcomeStatus.REJECTED, "Yespo refused the past event: OCCURRED_TIME_TOO_DEPTH (older than Yespo keeps)"),
        ("SOMETHING_NEW", OutcomeStatus.REJECTED, "Yespo refused the past event: SOMETHING_NEW"),
    ],
)
def test_past_event_statuses_become_outcomes(vendor: FakeYespo, status: str, outcome: OutcomeStatus, reason: str) -> None:
    vendor.statuses = {"E": status}
    [result] = client_for(vendor).send_past_events([past("E")])
    assert (result.status, result.reason) == (outcome, reason)


def test_past_events_answer_with_the_wrong_number_of_statuses_is_retried(vendor: FakeYespo) -> None:
    vendor.script("POST", "/api/v1/past_events", Reply(200, {"results": [{"status": "ACCEPTED"}], "successCount": 1}))
    with pytest.raises(RetryableError, match="1 statuses for 2 past events"):
        client_for(vendor).past_event_statuses([past("A"), past("B")])


def test_past_events_answer_for_one_event_may_be_an_object(vendor: FakeYespo) -> None:
    vendor.script("POST", "/api/v1/past_events", Reply(200, {"results": {"status": "ACCEPTED"}, "successCount": 1}))
    assert client_for(vendor).past_event_statuses([past("A")]) == ["ACCEPTED"]


def order(order_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "externalOrderId": order_id, "externalCustomerId": "u1", "totalCost": 10.0, "status": "INITIALIZED",
        "date": "2026-11-23T10:00:00Z", "currency": "EUR", "items": [{"externalItemId": "i1", "quantity": 1}], **extra,
    }


def test_orders_are_posted_together_and_each_failed_order_is_rejected_alone(vendor: FakeYespo) -> None:
    vendor.refuse_orders = {"o2": "unknown store"}
    outcomes = client_for(vendor).send_orders([order("o1"), order("o2"), order("o3", currency="")])
    assert vendor.requests[0].path == "/api/v1/orders"
    assert [o["externalOrderId"] for o in vendor.requests[0].json()["orders"]] == ["o1", "o2", "o3"]
    assert [(o.status, o.reason) for o in outcomes] == [
        (OutcomeStatus.DELIVERED, ""),
        (OutcomeStatus.REJECTED, "Yespo refused the order: unknown store"),
        (OutcomeStatus.REJECTED, "Yespo refused the order: required fields are empty: currency"),
    ]


def test_a_failed_order_that_names_no_order_of_the_request_makes_the_others_retry(vendor: FakeYespo) -> None:
    vendor.script("POST", "/api/v1/orders", Reply(200, {"failedOrders": [{"order": {}, "error": "boom"}]}))
    outcomes = client_for(vendor).send_orders([order("o1"), order("o2")])
    assert [o.status for o in outcomes] == [OutcomeStatus.RETRY, OutcomeStatus.RETRY]
    assert outcomes[0].reason == "Yespo refused 1 order(s) without saying which (boom); sending again"


def test_an_unreadable_bulk_answer_is_retried(vendor: FakeYespo) -> None:
    vendor.script("POST", "/api/v1/orders", Reply(200, "<html>maintenance</html>"))
    with pytest.raises(RetryableError, match="could not read Yespo's answer"):
        client_for(vendor).send_orders([order("o1")])


def test_bulk_contacts_send_dedupe_on_and_exactly_the_given_contact_fields(vendor: FakeYespo) -> None:
    contacts = [CONTACT, {**CONTACT, "channels": [{"type": "email", "value": "bo@example.com"}], "externalCustomerId": "u2"}]
    outcomes = client_for(vendor, identify_via="contacts", restore_deleted=True).upsert_contacts(
        contacts, ("email", "firstName", "externalCustomerId"), (111,)
    )
    assert vendor.requests[0].path == "/api/v1/contacts"
    assert vendor.requests[0].json() == {
        "contacts": contacts,
        "dedupeOn": "externalCustomerId",
        "contactFields": ["email", "firstName", "externalCustomerId"],
        "restoreDeleted": True,
        "customFieldsIDs": [111],
    }
    assert [o.status for o in outcomes] == [OutcomeStatus.DELIVERED] * 2


def test_bulk_contacts_failed_contact_answered_as_an_object_rejects_only_that_contact(vendor: FakeYespo) -> None:
    vendor.refuse_contacts = {"bo@example.com": "Invalid first name"}
    contacts = [CONTACT, {"channels": [{"type": "email", "value": "bo@example.com"}], "firstName": "B0b_1234"}]
    outcomes = client_for(vendor).upsert_contacts(contacts, ("email", "firstName"), ())
    assert [(o.status, o.reason) for o in outcomes] == [
        (OutcomeStatus.DELIVERED, ""),
        (OutcomeStatus.REJECTED, "Yespo refused the contact: Invalid first name"),
    ]
