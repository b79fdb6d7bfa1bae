"""HTTP for the webhook destination: JSON bodies, signed like Segment's Webhooks destination."""
from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Callable

import orjson

from destinations.base import Outcome
from destinations.http import HttpClient, excerpt
from destinations.errors import RejectedEvent


def signature(secret: str, body: bytes) -> str:
    """hex(HMAC-SHA1(secret, body)): the X-Signature header Segment sends."""
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def encode(payload: Any) -> bytes:
    """Compact JSON, non-ASCII as is: the bytes JSON.stringify gives, so Segment-style receivers can re-sign them."""
    try:
        return orjson.dumps(payload)  # fast; the same bytes but for float notation
    except orjson.JSONEncodeError:  # integers beyond 64 bits
        pass
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookClient:
    def __init__(self, settings: dict[str, Any], throttle: Callable[[], None] | None = None) -> None:
        self.url = settings["url"]
        self.method = settings["method"]
        self.secret = settings.get("shared_secret")
        self.first_element = settings["signature"] == "first_element"
        headers = {"Content-Type": "application/json", **settings["headers"]}
        self.http = HttpClient(self.url, timeout=settings["timeout"], headers=headers, throttle=throttle, vendor="webhook")

    def post(self, payload: Any) -> Outcome:
        """Send one body (an event or an array of events)."""
        body = encode(payload)
        signed = encode(payload[0]) if self.first_element and isinstance(payload, list) and payload else body
        headers = {"X-Signature": signature(self.secret, signed)} if self.secret else {}
        response = self.http.request(self.method, self.url, data=body, headers=headers)
        if 200 <= response.status_code < 300:
            return Outcome.delivered(response.status_code)
        raise RejectedEvent(
            f"webhook answered {response.status_code}",
            status=response.status_code,
            response=excerpt(response.content),
        )
