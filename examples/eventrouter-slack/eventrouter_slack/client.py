"""All HTTP to Slack: one session, the shared rate limit, and the one place status codes become outcomes."""
from __future__ import annotations

from typing import Any, Callable

from destinations.kit import HttpClient, Outcome, RejectedEvent, excerpt


class Client:
    def __init__(self, settings: dict[str, Any], throttle: Callable[..., None] | None = None) -> None:
        self.webhook_url = settings["webhook_url"]
        self.http = HttpClient(self.webhook_url, timeout=settings["timeout"], throttle=throttle, vendor="Slack")

    def send(self, message: dict[str, Any]) -> Outcome:
        """200 "ok": posted. 400/403/404/410 (invalid_payload, action_prohibited, channel_not_found,
        channel_is_archived, ...): rejected with Slack's code as the reason. 429 (with Retry-After),
        5xx and network errors: HttpClient raises RetryableError. The URL (the secret) is in no reason."""
        response = self.http.post(self.webhook_url, json=message)
        if response.status_code >= 300:
            code = response.text.strip()[:100] or "no error code"
            raise RejectedEvent(f"Slack answered {response.status_code}: {code}", status=response.status_code,
                                response=excerpt(response.content))
        return Outcome.delivered(response.status_code)
