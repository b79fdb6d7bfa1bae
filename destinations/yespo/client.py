"""All HTTP to Yespo, and the one place that turns its answers into outcomes.

HttpClient already retries connection errors, timeouts, 408, 429 and 5xx.
Here: 409 on a contact upsert is "done a minute ago"; 404 on a delete is
"already gone"; other 4xx reject with Yespo's body; the bulk endpoints answer
per record (past_events: a status per event by position; orders and contacts:
the records that failed).
"""
from __future__ import annotations

import enum
from typing import Any, Callable, Iterable, Mapping, Sequence

import requests
from requests.auth import HTTPBasicAuth

from destinations.base import Outcome
from destinations.http import HttpClient, excerpt
from destinations.yespo.common import encode
from destinations.errors import RejectedEvent, RetryableError


class PastEventStatus(str, enum.Enum):
    ACCEPTED = "ACCEPTED"
    OCCURRED_DATE_IS_REQUIRED = "OCCURRED_DATE_IS_REQUIRED"
    INCORRECT_OCCURRED_DATE_FORMAT = "INCORRECT_OCCURRED_DATE_FORMAT"
    OCCURRED_TIME_TOO_DEPTH = "OCCURRED_TIME_TOO_DEPTH"
    OCCURRED_TIME_IN_FUTURE = "OCCURRED_TIME_IN_FUTURE"
    EVENT_SEGMENTATION_DISABLED = "EVENT_SEGMENTATION_DISABLED"
    SERVER_ERROR = "SERVER_ERROR"


#: what Yespo's per-event statuses mean for a live event
PAST_EVENT_HINTS = {
    PastEventStatus.OCCURRED_DATE_IS_REQUIRED: "no occurred date",
    PastEventStatus.INCORRECT_OCCURRED_DATE_FORMAT: "occurred is not YYYY-MM-DDTHH:mm",
    PastEventStatus.OCCURRED_TIME_TOO_DEPTH: "older than Yespo keeps",
    PastEventStatus.OCCURRED_TIME_IN_FUTURE: "occurred is in the future",
    PastEventStatus.EVENT_SEGMENTATION_DISABLED: "enable event segmentation for this event type in Yespo",
}


def past_event_outcome(status: str) -> Outcome:
    """ACCEPTED -> delivered; SERVER_ERROR -> retry; any other status -> rejected, naming it."""
    if status == PastEventStatus.ACCEPTED:
        return Outcome.delivered(200, status)
    if status == PastEventStatus.SERVER_ERROR:
        return Outcome.from_error(RetryableError("Yespo answered SERVER_ERROR for this past event", status=200, response=status))
    hint = PAST_EVENT_HINTS.get(status)
    reason = f"Yespo refused the past event: {status}" + (f" ({hint})" if hint else "")
    return Outcome.from_error(RejectedEvent(reason, status=200, response=str(status)))


class YespoClient:
    def __init__(self, settings: Mapping[str, Any], throttle: Callable[..., None] | None = None) -> None:
        self.version = settings["api_version"]
        self.dedupe_on = settings["dedupe_on"]
        self.restore_deleted = settings["restore_deleted"]
        self.conflict_is_delivered = settings["treat_409_as_delivered"]
        self.http = HttpClient(
            settings["base_url"],
            timeout=settings["timeout"],
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            auth=HTTPBasicAuth(settings["username"], settings["api_key"]),
            throttle=throttle,
            vendor="Yespo",
        )

    # single calls ------------------------------------------------------------------
    def send_event(self, body: Mapping[str, Any]) -> Outcome:
        """POST /api/{v}/event. Yespo documents no success body, so any 2xx is delivered."""
        return judge(self.post(f"/api/{self.version}/event", body, bucket="event"))

    def upsert_contact(self, contact: Mapping[str, Any]) -> Outcome:
        response = self.post("/api/v1/contact", contact)
        if response.status_code == 409:
            # Yespo's 409 here means "the same request within the last minute"
            if self.conflict_is_delivered:
                return Outcome.delivered(409, excerpt(response.content))
            raise RetryableError("Yespo answered 409 (repeated within a minute)", status=409, response=excerpt(response.content))
        return judge(response)

    def delete_contact(self, external_customer_id: str) -> Outcome:
        """Erase the contact, its activity and tracking. A contact already gone counts as done."""
        response = self.http.request(
            "DELETE", "/api/v1/contact", params={"externalCustomerId": external_customer_id, "erase": "true"}
        )
        if response.status_code == 404:
            return Outcome.delivered(404, excerpt(response.content))
        return judge(response)

    # bulk calls ----------------------------------------------------------------------
    def past_event_statuses(self, events: Sequence[Mapping[str, Any]]) -> list[str]:
        """POST /api/{v}/past_events; Yespo's status for each event, in order."""
        response = self.post(f"/api/{self.version}/past_events", {"events": list(events)}, bucket="past_events")
        judge(response)
        results = as_list(read_json(response).get("results"))
        statuses = [r.get("status") if isinstance(r, Mapping) else None for r in results]
        if len(statuses) != len(events) or not all(isinstance(s, str) for s in statuses):
            raise RetryableError(
                f"Yespo's answer has {len(statuses)} statuses for {len(events)} past events",
                status=response.status_code,
                response=excerpt(response.content),
            )
        return statuses

    def send_past_events(self, events: Sequence[Mapping[str, Any]]) -> list[Outcome]:
        return [past_event_outcome(s) for s in self.past_event_statuses(events)]

    def send_orders(self, orders: Sequence[Mapping[str, Any]]) -> list[Outcome]:
        """POST /api/v1/orders; ``failedOrders`` name the refused ones by externalOrderId."""
        response = self.post("/api/v1/orders", {"orders": list(orders)})
        judge(response)
        failures = [
            ({order_key((f.get("order") or {}))}, str(f.get("error") or "no reason given"))
            for f in as_list(read_json(response).get("failedOrders"))
            if isinstance(f, Mapping)
        ]
        return per_record(response, [{order_key(o)} for o in orders], failures, "order")

    def upsert_contacts(
        self, contacts: Sequence[Mapping[str, Any]], fields: Sequence[str], field_ids: Sequence[int]
    ) -> list[Outcome]:
        """POST /api/v1/contacts with ``contactFields`` = exactly the fields these contacts carry.

        Yespo nulls the listed fields a contact lacks, so callers only put
        contacts that carry the same fields in one request.
        """
        body: dict[str, Any] = {
            "contacts": list(contacts),
            "dedupeOn": self.dedupe_on,
            "contactFields": list(fields),
            "restoreDeleted": self.restore_deleted,
        }
        if field_ids:
            body["customFieldsIDs"] = list(field_ids)
        response = self.post("/api/v1/contacts", body)
        judge(response)
        answer = read_json(response)
        if answer.get("errorMessage") and not answer.get("asyncSessionId"):
            raise RejectedEvent(f"Yespo refused the contacts: {answer['errorMessage']}", status=response.status_code, response=excerpt(response.content))
        failures = [
            (contact_keys(f), str(f.get("error") or "no reason given"))
            for f in as_list(answer.get("failedContacts"))
            if isinstance(f, Mapping)
        ]
        return per_record(response, [contact_keys(c) for c in contacts], failures, "contact")

    # plumbing ------------------------------------------------------------------------
    def post(self, path: str, body: Any, bucket: str | None = None) -> requests.Response:
        """``bucket``: Yespo limits /event and /past_events apart from its other calls."""
        return self.http.post(path, data=encode(body), bucket=bucket)

    def close(self) -> None:
        self.http.close()


def judge(response: requests.Response) -> Outcome:
    """2xx is delivered; any other status HttpClient did not already retry is rejected with Yespo's body."""
    if 200 <= response.status_code < 300:
        return Outcome.delivered(response.status_code)
    raise RejectedEvent(
        f"Yespo answered {response.status_code}", status=response.status_code, response=excerpt(response.content)
    )


def read_json(response: requests.Response) -> dict[str, Any]:
    """The answer of a bulk call; an empty body means no record failed."""
    if not response.content.strip():
        return {}
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        # upserts are safe to repeat: ask again rather than guess which records went through
        raise RetryableError("could not read Yespo's answer", status=response.status_code, response=excerpt(response.content))
    return answer


def as_list(value: Any) -> list[Any]:
    """Yespo answers a one-element list as the element itself."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def order_key(order: Mapping[str, Any]) -> str:
    return str(order.get("externalOrderId"))


def contact_keys(contact: Mapping[str, Any]) -> set[tuple[str, str]]:
    """What identifies a contact in Yespo's failedContacts: its externalCustomerId and channels."""
    keys = {(str(c.get("type")), str(c.get("value"))) for c in as_list(contact.get("channels")) if isinstance(c, Mapping)}
    if contact.get("externalCustomerId"):
        keys.add(("externalCustomerId", str(contact["externalCustomerId"])))
    return keys


def per_record(
    response: requests.Response,
    item_keys: Sequence[set[Any]],
    failures: Iterable[tuple[set[Any], str]],
    what: str,
) -> list[Outcome]:
    """One outcome per record: rejected with Yespo's error when a failure names it, else delivered.

    A failure that names no record of the request leaves us unable to tell
    which one it was: the records not otherwise refused are sent again
    (both bulk calls are upserts, so a repeat is harmless).
    """
    errors: dict[int, str] = {}
    unmatched: list[str] = []
    for keys, error in failures:
        hits = [i for i, own in enumerate(item_keys) if own & keys]
        if not hits:
            unmatched.append(error)
        for i in hits:
            errors.setdefault(i, error)
    body = excerpt(response.content)
    outcomes = []
    for i in range(len(item_keys)):
        if i in errors:
            outcomes.append(Outcome.from_error(RejectedEvent(f"Yespo refused the {what}: {errors[i]}", status=response.status_code, response=body)))
        elif unmatched:
            reason = f"Yespo refused {len(unmatched)} {what}(s) without saying which ({unmatched[0]}); sending again"
            outcomes.append(Outcome.from_error(RetryableError(reason, status=response.status_code, response=body)))
        else:
            outcomes.append(Outcome.delivered(response.status_code))
    return outcomes
