"""The HTTP exchanges one vendor call made, for the dead letter and the delivery sample.

``send_calls`` (destinations/base.py) runs each call :func:`recorded`;
``HttpClient`` (destinations/http.py) adds what it sent and what came back. The
exchanges are attached to the outcomes of exactly the items that call carried.
They hold secrets as they were sent: the host redacts them before it stores or
shows anything. Bodies are bounded here, so a batch of large events costs the
same as a small one.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable, Iterator, TypeVar

#: the most of a request or response body kept, in bytes (UTF-8)
BODY_LIMIT = 4096
#: the most of one header value kept, in characters
HEADER_LIMIT = 1024
#: the most exchanges one call keeps (a token fetch, a retry after a redirect...); the last ones win
MAX_EXCHANGES = 4

Exchange = dict[str, Any]
T = TypeVar("T")

_current: ContextVar["list[Exchange] | None"] = ContextVar("eventrouter_exchanges", default=None)


@contextmanager
def capture() -> Iterator[list[Exchange]]:
    """Collect the exchanges made inside the block (nested captures collect their own)."""
    exchanges: list[Exchange] = []
    token = _current.set(exchanges)
    try:
        yield exchanges
    finally:
        _current.reset(token)


def recorded(call: Callable[[], T], into: list[Exchange]) -> T:
    """``call()``, with the exchanges it makes added to ``into`` (also when it raises)."""
    token = _current.set(into)
    try:
        return call()
    finally:
        _current.reset(token)


def bounded(body: Any, limit: int = BODY_LIMIT) -> str:
    """A body as text, cut at ``limit`` bytes with a ``[N more bytes]`` marker."""
    if body is None:
        return ""
    if isinstance(body, str):
        body = body.encode("utf-8", "replace")
    elif not isinstance(body, (bytes, bytearray)):
        return f"<streamed body of type {type(body).__name__}>"
    if len(body) <= limit:
        return bytes(body).decode("utf-8", "replace")
    return bytes(body[:limit]).decode("utf-8", "ignore") + f"... [{len(body) - limit} more bytes]"


def _headers(headers: Any) -> dict[str, str]:
    out = {}
    for k, v in (headers or {}).items():
        v = v.decode("latin-1") if isinstance(v, bytes) else str(v)
        out[str(k)] = v if len(v) <= HEADER_LIMIT else v[:HEADER_LIMIT] + f"... [{len(v) - HEADER_LIMIT} more characters]"
    return out


def record(request: Any, response: Any = None, error: str | None = None) -> None:
    """Add one exchange (a ``requests`` PreparedRequest and its Response, or the error that
    stopped it) to the current capture; nothing when no capture is open."""
    exchanges = _current.get()
    if exchanges is None or request is None:
        return
    entry: Exchange = {
        "method": request.method,
        "url": request.url,
        "headers": _headers(request.headers),
        "body": bounded(request.body),
    }
    if response is not None:
        entry["response"] = {"status": response.status_code, "headers": _headers(response.headers),
                             "body": bounded(response.content)}
    if error:
        entry["error"] = error
    exchanges.append(entry)
    if len(exchanges) > MAX_EXCHANGES:
        del exchanges[0]
