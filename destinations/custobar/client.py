"""All HTTP to Custobar, and the one place that turns its answers into outcomes.

HttpClient already retries connection errors, timeouts, 408, 429 and 5xx.
Here: a 2xx is delivered (Custobar answers ``{"response": "ok"}``) unless the
body carries an error; any other status is rejected with Custobar's
``error.reason``. Splitting a refused batch is the destination's job.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Sequence

import requests
from requests.auth import HTTPBasicAuth

from destinations.base import Outcome
from destinations.custobar.upload import Endpoint
from destinations.http import HttpClient, excerpt
from destinations.errors import RejectedEvent

UPLOAD_PATHS = {
    Endpoint.CUSTOMERS: "/api/customers/upload/",
    Endpoint.SALES: "/api/sales/upload/",
}


class CustobarClient:
    def __init__(self, settings: Mapping[str, Any], throttle: Callable[[], None] | None = None) -> None:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        auth = None
        if settings.get("token"):
            headers["Authorization"] = f"{settings['auth_scheme']} {settings['token']}"
        else:
            # as UTF-8 bytes (RFC 7617): requests would encode a str as Latin-1 and fail on "€"
            auth = HTTPBasicAuth(settings["username"].encode(), settings["password"].encode())
        self.paths = {**UPLOAD_PATHS, Endpoint.EVENTS: settings["events_path"]}
        self.http = HttpClient(
            settings["base_url"], timeout=settings["timeout"], headers=headers, auth=auth, throttle=throttle, vendor="Custobar"
        )

    def upload(self, endpoint: Endpoint, records: Sequence[Mapping[str, Any]]) -> Outcome:
        """POST the records wrapped as ``{"<endpoint>": [...]}``: one outcome for all of them."""
        body = json.dumps({endpoint.value: list(records)}, separators=(",", ":"), ensure_ascii=False).encode()
        return judge(self.http.post(self.paths[endpoint], data=body))

    def close(self) -> None:
        self.http.close()


def judge(response: requests.Response) -> Outcome:
    """2xx without an error in the body is delivered; everything else is refused with Custobar's reason."""
    reason = error_reason(response)
    if 200 <= response.status_code < 300 and reason is None:
        return Outcome.delivered(response.status_code, excerpt(response.content))
    raise RejectedEvent(
        f"Custobar refused the upload ({response.status_code}): {excerpt(reason, 300) if reason else 'no reason given'}",
        status=response.status_code,
        response=excerpt(response.content),
    )


def error_reason(response: requests.Response) -> str | None:
    """``error.reason`` of Custobar's answer (``{"error": {"reason": ...}}``), or ``detail`` / a plain ``error``."""
    try:
        answer = response.json()
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    error = answer.get("error")
    if isinstance(error, dict):
        return str(error.get("reason") or error)
    if error:
        return str(error)
    if response.status_code >= 300 and answer.get("detail"):
        return str(answer["detail"])
    return None
