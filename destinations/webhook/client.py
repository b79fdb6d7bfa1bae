"""HTTP for the webhook destination: JSON bodies, signed like Segment's Webhooks destination."""
from __future__ import annotations

import decimal
import hashlib
import hmac
import math
from typing import Any, Callable

import orjson

from destinations.base import Outcome
from destinations.http import HttpClient, excerpt
from destinations.errors import RejectedEvent


def signature(secret: str, body: bytes) -> str:
    """hex(HMAC-SHA1(secret, body)): the X-Signature header Segment sends."""
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def js_number(x: float) -> str:
    """A float as JSON.stringify writes it (ECMAScript Number::toString): the shortest digits that
    read back as ``x`` (Python's repr finds the same), "10" for 10.0, no exponent from 1e-7 to 1e21,
    "0" for -0, null for what JSON has no number for."""
    if x == 0:
        return "0"
    if not math.isfinite(x):
        return "null"
    sign, digit_tuple, exponent = decimal.Decimal(repr(x)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    k = len(digits)
    n = exponent + len(digit_tuple)  # x = 0.<digits> * 10**n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        mantissa = digits[0] + (f".{digits[1:]}" if k > 1 else "")
        text = f"{mantissa}e{'+' if n > 0 else '-'}{abs(n - 1)}"
    return ("-" if sign else "") + text


def _as_js(value: Any) -> Any:
    """``value`` with its floats (and integers beyond 64 bits, which orjson can't write) pre-written."""
    if isinstance(value, float):
        return orjson.Fragment(js_number(value))
    if isinstance(value, int) and not isinstance(value, bool) and not -2**63 <= value < 2**64:
        return orjson.Fragment(str(value))
    if isinstance(value, dict):
        return {k: _as_js(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_js(v) for v in value]
    return value


def encode(payload: Any) -> bytes:
    """Compact JSON, non-ASCII as is, numbers as JavaScript writes them: the bytes JSON.stringify
    gives, so Segment-style receivers, which re-sign JSON.stringify(body) or of body[0], can."""
    return orjson.dumps(_as_js(payload))


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
