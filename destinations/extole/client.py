"""All HTTP to Extole, and the one place that turns Extole's answers into outcomes."""
from __future__ import annotations

import json
from typing import Any, Callable, Mapping

import requests

from destinations.base import Outcome
from destinations.extole.mapper import ERASURE_PATH
from destinations.http import HttpClient, excerpt
from destinations.errors import RejectedEvent, RetryableError

#: statuses Extole's error table lists as "don't retry": the event is refused as it is
REFUSED = frozenset({400, 402, 403, 415})


class ExtoleClient:
    def __init__(self, settings: Mapping[str, Any], throttle: Callable[[], None] | None = None) -> None:
        self.on_empty_204 = settings["on_empty_204"]
        self.erasure_404 = settings["erasure_404"]
        self.events_base_url = (settings.get("events_base_url") or settings["base_url"]).rstrip("/")
        self.http = HttpClient(
            settings["base_url"],
            timeout=settings["timeout"],
            headers={"Authorization": f"Bearer {settings['api_key']}", "Content-Type": "application/json"},
            throttle=throttle,
            vendor="Extole",
        )

    def post(self, payload: Mapping[str, Any]) -> Outcome:
        """Send one mapped call (``{"path", "body"}``); raise RejectedEvent/RetryableError on failure."""
        path = payload["path"]
        url = self.http.url(path) if path == ERASURE_PATH else f"{self.events_base_url}{path}"
        body = json.dumps(payload["body"], separators=(",", ":"), ensure_ascii=False).encode()
        return judge(self.http.post(url, data=body), erasure=path == ERASURE_PATH, on_empty_204=self.on_empty_204,
                     erasure_404=self.erasure_404)

    def close(self) -> None:
        self.http.close()


def judge(response: requests.Response, *, erasure: bool = False, on_empty_204: str = "reject",
          erasure_404: str = "reject") -> Outcome:
    """Extole's answer as an outcome (429/5xx never get here: HttpClient raised RetryableError)."""
    status = response.status_code
    if status == 204:
        return empty_204(on_empty_204)
    if 200 <= status < 300:
        return Outcome.delivered(status)
    if erasure and status == 404 and erasure_404 == "done":
        # nobody left to erase (the setting says Extole answers so): a repeated delete is done, not failed
        return Outcome.delivered(status, excerpt(response.content))
    code, message = error_envelope(response)
    if status == 401:
        raise RejectedEvent(
            f"Extole API key is wrong or expired (code {code or 'none given'})",
            status=status,
            response=excerpt(response.content),
        )
    what = f"refused the call ({status})" if status in REFUSED else f"answered {status}"
    detail = f": {code}: {message}" if code or message else " without an error body"
    raise RejectedEvent(f"Extole {what}{detail}", status=status, response=excerpt(response.content))


def empty_204(action: str) -> Outcome:
    """Extole documents an empty 204 as a misrouted request (wrong host or path), not an acceptance."""
    reason = "Extole answered an empty 204: the request was misrouted (check base_url and the endpoint), not accepted"
    if action == "deliver":
        return Outcome.delivered(204)
    if action == "retry":
        raise RetryableError(reason, status=204)
    raise RejectedEvent(reason, status=204)


def error_envelope(response: requests.Response) -> tuple[str, str]:
    """``code`` and ``message`` of Extole's error body ``{unique_id, http_status_code, code, message, parameters}``."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("code") or ""), str(body.get("message") or "")
