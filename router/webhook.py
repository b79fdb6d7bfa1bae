"""Segment as a source: events from Segment's Webhooks destination.

Segment signs the raw body: ``X-Signature: hex(HMAC-SHA1(secret, body))``.
When Webhooks (Actions) batches, it posts a JSON array but signs only the
first element as ``JSON.stringify(body[0])``; that form is accepted too, by
checking the exact bytes of the first element as they appear in the body.
"""
from __future__ import annotations

import hashlib
import hmac
import json

from flask import Blueprint, Response, current_app, jsonify, request

from router.config import SourceConfig
from router.ingest import BadRequest, intake, read_json
from router.intake import MAX_BATCH_EVENTS

bp = Blueprint("webhook", __name__)


def first_element_bytes(raw: bytes) -> bytes | None:
    """The bytes of a JSON array's first element, exactly as sent."""
    text = raw.decode("utf-8", "replace")
    start = len(text) - len(text.lstrip())
    if not text[start:].startswith("["):
        return None
    idx = start + 1
    while idx < len(text) and text[idx].isspace():
        idx += 1
    try:
        _, end = json.JSONDecoder().raw_decode(text, idx)
    except ValueError:
        return None
    return text[idx:end].encode("utf-8")


def sign(secret: str, data: bytes) -> str:
    return hmac.new(secret.encode(), data, hashlib.sha1).hexdigest()


def verified_source(raw: bytes, signature: str) -> SourceConfig | None:
    sources = [s for s in current_app.extensions["eventrouter.runtime"].config.sources if s.webhook_secret]
    first = first_element_bytes(raw)
    for source in sources:
        for signed in (raw, first):
            if signed is not None and hmac.compare_digest(sign(source.webhook_secret, signed), signature.lower()):
                return source
    return None


@bp.post("/v1/webhook")
def webhook() -> tuple[Response, int]:
    signature = request.headers.get("X-Signature", "").strip()
    if not signature:
        raise BadRequest(401, "missing X-Signature header", "X-Signature")
    body = read_json()
    raw = request.get_data(cache=True)
    source = verified_source(raw, signature)
    if source is None:
        raise BadRequest(401, "X-Signature does not match any source's webhook_secret", "X-Signature")
    events = body if isinstance(body, list) else [body]
    if len(events) > MAX_BATCH_EVENTS:
        raise BadRequest(400, f"{len(events)} events; the limit is {MAX_BATCH_EVENTS}")
    result = intake().accept(source, events)
    if not isinstance(body, list) and result.rejected:
        return jsonify({"success": False, "errors": result.rejected[0]["errors"]}), 400
    return jsonify(result.as_batch_answer()), 200
