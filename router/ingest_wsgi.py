"""The Tracking API's POSTs answered before Flask: its request machinery is a third of a call.

A one-event ``/v1/track`` is mostly per-request cost, and Flask's share of it (request and
response objects, URL matching, context push and pop, the after-request hooks) measured about a
third of what a bare Flask app that only parses and RPUSHes can take on the same gunicorn
(``python -m bench`` prints both). This WSGI layer sits in front of the Flask app
(``app.wsgi_app``) and answers ``POST /v1/<call>`` itself with router/ingest.py's ``answer``, the
same function the Flask views call, so the two can't differ in what they accept or say. Anything
else — other paths and methods, a body without a ``Content-Length`` (chunked) or over Flask's
``MAX_CONTENT_LENGTH`` — goes to Flask untouched.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Iterable

import redis
from flask import Flask
from werkzeug.exceptions import InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from router.body import BadRequest
from router.ingest import BATCH_KINDS, SINGLE_KINDS, STORAGE_UNAVAILABLE, answer, cors_headers

log = logging.getLogger(__name__)
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
#: the paths of the calls, as the Flask views route them (``/v1/track``, ``/v1/t``, ``/v1/batch``, ...)
PATHS = {f"/v1/{kind}": kind for kind in SINGLE_KINDS | BATCH_KINDS}
_STATUS_LINES = {code: f"{code} {text.upper()}" for code, text in HTTP_STATUS_CODES.items()}


class TrackingAPI:
    """WSGI middleware: ``app.wsgi_app = TrackingAPI(app)``."""

    def __init__(self, app: Flask) -> None:
        self.flask: WSGIApp = app.wsgi_app
        self.app = app
        self.intake = app.extensions["eventrouter.intake"]
        self.max_body: int | None = app.config["MAX_CONTENT_LENGTH"]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        kind = PATHS.get(environ.get("PATH_INFO", "")) if environ.get("REQUEST_METHOD") == "POST" else None
        length = _content_length(environ, self.max_body) if kind else None
        if length is None:
            return self.flask(environ, start_response)
        data = environ["wsgi.input"].read(length)
        extra: dict[str, str] = {}
        try:
            if len(data) < length:  # the client went away mid-body
                raise BadRequest(400, f"the body ended after {len(data)} of its {length} bytes (Content-Length)")
            status, value = answer(self.intake, kind, data, environ.get("HTTP_CONTENT_ENCODING"),
                                   environ.get("HTTP_AUTHORIZATION", ""))
        except BadRequest as exc:
            status, value = exc.status, {"success": False, "errors": exc.errors}
        except redis.RedisError as exc:
            self.app.logger.error("redis unavailable: %s", type(exc).__name__)
            status, value, extra = 503, STORAGE_UNAVAILABLE, {"Retry-After": "2"}
        except Exception:  # a bug: answered as Flask answers one under /v1/ (JSON), and logged
            log.exception("%s %s failed", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            exc500 = InternalServerError()
            status, value = 500, {"success": False, "errors": [{"path": "", "message": f"{exc500.name}: {exc500.description}"}]}
        body = value if isinstance(value, bytes) else self.app.json.response(value).get_data()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        headers += extra.items()
        headers += cors_headers(environ.get("HTTP_ORIGIN")).items()
        start_response(_STATUS_LINES[status], headers)
        return [body]


def _content_length(environ: dict[str, Any], limit: int | None) -> int | None:
    """The body's declared length when this layer can read it whole; else None (Flask reads it)."""
    text = environ.get("CONTENT_LENGTH")
    if "HTTP_TRANSFER_ENCODING" in environ:  # a chunked body: its length is not the header's (Flask reads it)
        return None
    if not text or not (text.isascii() and text.isdigit()):  # absent (chunked), or not a number: Flask's rules apply
        return None
    try:
        n = int(text)
    except ValueError:  # more digits than int() reads (4,300): Flask's rules apply
        return None
    return n if limit is None or n <= limit else None
