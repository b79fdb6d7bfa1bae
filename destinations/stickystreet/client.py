"""All HTTP to Sticky Street, and the one place that turns its answers into outcomes.

Every call is a form-encoded POST to ``api.php`` with the credentials, added
here at send time so no mapped payload, reason or dead letter carries them.

HttpClient already retries connection errors, timeouts, 408, 429 and 5xx.
Here, whatever the HTTP status, the body decides:
- ``status="success"`` -> delivered;
- ``status="error"``: a "busy" message -> retry; "not found" on a delete ->
  delivered (already gone); any other message -> rejected with it;
- a body that is not an answer (cut off, an HTML or PHP error page) on a 2xx
  -> retry: we can't tell whether the call was applied, and re-sending an
  import keyed on ``code`` is harmless; on a 4xx -> rejected with the status.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import requests

from destinations.base import Outcome, secret_values
from destinations.http import HttpClient, excerpt
from destinations.stickystreet.response import MalformedAnswer, parse_answer
from destinations.stickystreet.settings import StickyStreetSettings
from destinations.errors import DeliveryError, RejectedEvent, RetryableError

API_VERSION = "1.5"
VENDOR = "Sticky Street"
#: how much of a malformed body the retry reason quotes (the outcome keeps a longer excerpt)
REASON_EXCERPT = 200


class StickyStreetClient:
    def __init__(self, settings: Mapping[str, Any], throttle: Callable[[], None] | None = None) -> None:
        self.path = settings["path"]
        self.credentials = {
            "API": API_VERSION,
            "user_id": settings["user_id"],
            "user_api_key": settings["user_api_key"],
            "account_id": settings["account_id"],
        }
        self.output = {"output": "JSON"} if settings["output"] == "JSON" else {}
        self.retry_errors = [p.lower() for p in settings["retry_errors"]]
        self.not_found_errors = [p.lower() for p in settings["not_found_errors"]]
        self.lenient_xml = settings["lenient_xml"]
        self.secrets = secret_values(StickyStreetSettings(), dict(settings))
        self.http = HttpClient(settings["base_url"], timeout=settings["timeout"], throttle=throttle, vendor=VENDOR)

    def call(self, form: Mapping[str, str]) -> Outcome:
        """POST one API call (``form["type"]`` names it) and judge the answer."""
        body = {**self.credentials, **form, **self.output}
        try:
            response = self.http.post(self.path, data=body)
        except DeliveryError as exc:
            raise self.redacted(exc) from None
        return self.judge(form["type"], response)

    def judge(self, call: str, response: requests.Response) -> Outcome:
        status = response.status_code
        body = self.redact(response.content.decode("utf-8", "replace"))
        kept = excerpt(body)
        ok_status = 200 <= status < 300
        try:
            answer = parse_answer(body, lenient_xml=self.lenient_xml)
        except MalformedAnswer as exc:
            if ok_status:
                raise RetryableError(
                    f"{VENDOR} answered {call} with {exc}, not its answer; retrying as it may not have been applied: "
                    f"{excerpt(body, REASON_EXCERPT)!r}",
                    status=status,
                    response=kept,
                ) from None
            raise RejectedEvent(f"{VENDOR} answered {status} to {call}", status=status, response=kept) from None
        if answer.ok and ok_status:
            return Outcome.delivered(status, kept)
        message = answer.error or "no error message"
        lowered = message.lower()
        if any(p in lowered for p in self.retry_errors):
            raise RetryableError(f"{VENDOR} is busy: {message}", status=status, response=kept)
        if call == "customer_delete" and any(p in lowered for p in self.not_found_errors):
            return Outcome.delivered(status, kept)
        if answer.ok:
            raise RejectedEvent(f"{VENDOR} answered {status} to {call}", status=status, response=kept)
        raise RejectedEvent(f"{VENDOR} refused {call}: {message}", status=status, response=kept)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def redacted(self, exc: DeliveryError) -> DeliveryError:
        """The same error with any echo of a secret taken out of its reason and response."""
        exc.reason = self.redact(exc.reason)
        if exc.response is not None:
            exc.response = self.redact(exc.response)
        exc.args = (exc.reason,)
        return exc
