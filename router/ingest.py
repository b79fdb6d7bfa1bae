"""The HTTP Tracking API: ``/v1/identify|track|page|screen|group|alias|batch|import``
and analytics.js's short paths ``/v1/i|t|p|s|g|a|b``."""
from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from router.body import BadRequest, decode, parse_strict, size
from router.config import SourceConfig
from router.intake import MAX_BATCH_EVENTS, MAX_EVENT_BYTES, MAX_REQUEST_BYTES, Intake
from router.schemas import PATH_TYPES

bp = Blueprint("ingest", __name__)

CORS_HEADERS = {
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    # analytics.js adds X-Retry-Count to every retry: without it here a browser's retries never leave the preflight
    "Access-Control-Allow-Headers": "Content-Type, Authorization, Content-Encoding, X-Retry-Count",
    # so a browser client can read how long to wait after a 429 / 503
    "Access-Control-Expose-Headers": "Retry-After",
    "Access-Control-Max-Age": "86400",
}


def bad_request_answer(exc: BadRequest) -> tuple[Response, int]:
    return jsonify({"success": False, "errors": exc.errors}), exc.status


#: ``jsonify``'s bytes for the answer every accepted single call gets
_SUCCESS = b'{"success":true}\n'


@bp.after_request
def _cors(response: Response) -> Response:
    for k, v in cors_headers(request.headers.get("Origin")).items():
        if k in CORS_HEADERS:
            response.headers.setdefault(k, v)
        else:
            response.headers[k] = v
    return response


def read_body() -> Any:
    """The request body as JSON: gzip-decoded, any content type (analytics.js sends text/plain),
    size-checked (the webhook source reads its bodies so)."""
    raw = _decoded(request.get_data(cache=True), request.headers.get("Content-Encoding"))
    return parse_strict(raw)[0]


def _decoded(data: bytes, content_encoding: str | None) -> bytes:
    raw = decode(data, content_encoding, MAX_REQUEST_BYTES)
    if len(raw) > MAX_REQUEST_BYTES:
        raise BadRequest(413, f"request body is over {MAX_REQUEST_BYTES} bytes (500 KB); send smaller batches")
    return raw


def write_key(body: Any, auth: str) -> str:
    """Basic-auth user name (empty password), else ``writeKey`` in the body."""
    if auth[:6].lower() == "basic ":
        user = basic_user(auth)
        if user:
            return user
    if isinstance(body, dict) and isinstance(body.get("writeKey"), str):
        return body["writeKey"]
    raise BadRequest(401, "missing write key: send it as the Basic-auth user name or as writeKey in the body", "writeKey")


@lru_cache(maxsize=256)  # a client sends the same header with every request (an error is not cached)
def basic_user(auth: str) -> str:
    """The user name of a ``Basic ...`` Authorization header. Raises ``BadRequest``."""
    try:
        return base64.b64decode(auth[6:].strip()).decode("utf-8").split(":", 1)[0]
    except ValueError:  # not base64 (binascii.Error), non-ASCII header bytes, or not UTF-8 inside
        raise BadRequest(401, "Authorization header is not valid Basic auth", "writeKey") from None


def intake() -> Intake:
    return current_app.extensions["eventrouter.intake"]


#: the Tracking API's calls of one event, and of many
SINGLE_KINDS = frozenset(["identify", "track", "page", "screen", "group", "alias", "i", "t", "p", "s", "g", "a"])
BATCH_KINDS = frozenset(["batch", "b", "import"])
#: why a ``delete`` call sent with the write key of a source without ``accept_delete_calls`` is rejected
DELETE_REFUSED = ("delete calls are not accepted with this source's write key (a browser's key is public): "
                  "send them as POST /v1/regulations, or set accept_delete_calls: true on a server-side source")
#: what a client is told when Redis can't take its events (with ``Retry-After: 2``)
STORAGE_UNAVAILABLE = {"success": False, "errors": [{"path": "", "message": "storage unavailable; retry later"}]}


def cors_headers(origin: str | None) -> dict[str, str]:
    """The CORS headers of every Tracking API answer (browsers post from any site)."""
    headers = {"Access-Control-Allow-Origin": origin or "*"}
    if origin:
        headers["Vary"] = "Origin"
        headers["Access-Control-Allow-Credentials"] = "true"
    headers.update(CORS_HEADERS)
    return headers


def answer(intake: Intake, kind: str, data: bytes, content_encoding: str | None, authorization: str) -> tuple[int, Any]:
    """A Tracking API POST's answer, ``(status, JSON value)``, or bytes already written for the
    fixed success of a single call. The Flask views and router/ingest_wsgi.py both answer with it.
    Raises ``BadRequest`` for a request that can't be used at all."""
    raw = _decoded(data, content_encoding)
    body, strict = parse_strict(raw)
    source = intake.rt.config.source_for_key(write_key(body, authorization))
    if source is None:
        raise BadRequest(401, "unknown write key", "writeKey")
    if kind in BATCH_KINDS:
        return 200, _batch(intake, source, body, strict)
    if not isinstance(body, dict):
        raise BadRequest(400, "body must be a JSON object")
    if size(body) > MAX_EVENT_BYTES:
        raise BadRequest(413, f"event is over {MAX_EVENT_BYTES} bytes (32 KB)")
    body = dict(body, type=PATH_TYPES[kind])
    result = intake.accept(source, [body], check_sizes=False, strict=strict)
    if result.rejected:
        return 400, {"success": False, "errors": result.rejected[0]["errors"]}
    return 200, _SUCCESS


def _batch(intake: Intake, source: SourceConfig, body: Any, strict: bool) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
        raise BadRequest(400, 'body must be an object with a "batch" array', "batch")
    events = body["batch"]
    if len(events) > MAX_BATCH_EVENTS:
        raise BadRequest(400, f"batch has {len(events)} events; the limit is {MAX_BATCH_EVENTS}", "batch")
    context = body.get("context") if isinstance(body.get("context"), dict) else None
    integrations = body.get("integrations") if isinstance(body.get("integrations"), dict) else None
    refuse = {} if source.accept_delete_calls else {
        i: DELETE_REFUSED for i, e in enumerate(events) if isinstance(e, dict) and e.get("type") == "delete"}
    result = intake.accept(
        source,
        events,
        refuse=refuse,
        batch_context=context,
        batch_integrations=integrations,
        sent_at=body.get("sentAt"),
        # every event's size is checked, however small the body: its JSON as written back can be
        # longer than the text it came in (``9e15`` is ``9000000000000000.0``)
        strict=strict,
    )
    return result.as_batch_answer()


@bp.route("/v1/<kind>", methods=["OPTIONS"])
def preflight(kind: str) -> Response:
    return Response(status=204)


# router/ingest_wsgi.py answers these POSTs before Flask sees them, but for a request it hands on
# (no Content-Length, say) and for an app run without it
@bp.post("/v1/<any(identify, track, page, screen, group, alias, i, t, p, s, g, a):kind>")
def single(kind: str) -> tuple[Response, int]:
    return _answer(kind)


@bp.post("/v1/<any(batch, b, import):kind>")
def batch(kind: str) -> tuple[Response, int]:
    return _answer(kind)


def _answer(kind: str) -> tuple[Response, int]:
    status, value = answer(intake(), kind, request.get_data(cache=True), request.headers.get("Content-Encoding"),
                           request.headers.get("Authorization", ""))
    if isinstance(value, bytes):
        return Response(value, mimetype="application/json"), status
    return jsonify(value), status
