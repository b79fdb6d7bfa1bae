"""The HTTP Tracking API: ``/v1/identify|track|page|screen|group|alias|batch|import``
and analytics.js's short paths ``/v1/i|t|p|s|g|a|b``."""
from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from router.body import BadRequest, decode, parse_strict, size
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
    origin = request.headers.get("Origin")
    response.headers["Access-Control-Allow-Origin"] = origin or "*"
    if origin:
        response.headers["Vary"] = "Origin"
        response.headers["Access-Control-Allow-Credentials"] = "true"
    for k, v in CORS_HEADERS.items():
        response.headers.setdefault(k, v)
    return response


def read_body() -> tuple[Any, int]:
    """The request body as JSON and its decoded size: gzip-decoded, any content type
    (analytics.js sends text/plain), size-checked."""
    body, n, _ = read_strict_body()
    return body, n


def read_strict_body() -> tuple[Any, int, bool]:
    """``read_body`` and whether the values are strict JSON already (body.parse_strict)."""
    raw = decode(request.get_data(cache=True), request.headers.get("Content-Encoding"), MAX_REQUEST_BYTES)
    if len(raw) > MAX_REQUEST_BYTES:
        raise BadRequest(413, f"request body is over {MAX_REQUEST_BYTES} bytes (500 KB); send smaller batches")
    body, strict = parse_strict(raw)
    return body, len(raw), strict


def read_json() -> Any:
    return read_body()[0]


def write_key(body: Any) -> str:
    """Basic-auth user name (empty password), else ``writeKey`` in the body."""
    auth = request.headers.get("Authorization", "")
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


def authenticated(body: Any):
    key = write_key(body)
    source = current_app.extensions["eventrouter.runtime"].config.source_for_key(key)
    if source is None:
        raise BadRequest(401, "unknown write key", "writeKey")
    g.source = source
    return source


def intake() -> Intake:
    return current_app.extensions["eventrouter.intake"]


@bp.route("/v1/<kind>", methods=["OPTIONS"])
def preflight(kind: str) -> Response:
    return Response(status=204)


@bp.post("/v1/<any(identify, track, page, screen, group, alias, i, t, p, s, g, a):kind>")
def single(kind: str) -> tuple[Response, int]:
    body, _, strict = read_strict_body()
    source = authenticated(body)
    if not isinstance(body, dict):
        raise BadRequest(400, "body must be a JSON object")
    if size(body) > MAX_EVENT_BYTES:
        raise BadRequest(413, f"event is over {MAX_EVENT_BYTES} bytes (32 KB)")
    body = dict(body, type=PATH_TYPES[kind])
    result = intake().accept(source, [body], check_sizes=False, strict=strict)
    if result.rejected:
        return jsonify({"success": False, "errors": result.rejected[0]["errors"]}), 400
    return Response(_SUCCESS, mimetype="application/json"), 200


@bp.post("/v1/<any(batch, b, import):kind>")
def batch(kind: str) -> tuple[Response, int]:
    body, decoded_size, strict = read_strict_body()
    source = authenticated(body)
    if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
        raise BadRequest(400, 'body must be an object with a "batch" array', "batch")
    events = body["batch"]
    if len(events) > MAX_BATCH_EVENTS:
        raise BadRequest(400, f"batch has {len(events)} events; the limit is {MAX_BATCH_EVENTS}", "batch")
    context = body.get("context") if isinstance(body.get("context"), dict) else None
    integrations = body.get("integrations") if isinstance(body.get("integrations"), dict) else None
    result = intake().accept(
        source,
        events,
        batch_context=context,
        batch_integrations=integrations,
        sent_at=body.get("sentAt"),
        # no event can be over the limit when the whole decoded body is not (however it was encoded)
        check_sizes=decoded_size > MAX_EVENT_BYTES,
        strict=strict,
    )
    return jsonify(result.as_batch_answer()), 200
