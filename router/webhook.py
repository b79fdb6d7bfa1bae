"""Segment as a source: events from Segment's Webhooks destination.

Segment signs the raw body: ``X-Signature: hex(HMAC-SHA1(secret, body))``.
When Webhooks (Actions) batches, it posts a JSON array but signs only the
first element as ``JSON.stringify(body[0])``. A signature covers only what it
was computed over: with the first-element form only element 0 is accepted and
every other element is rejected as "not covered by X-Signature" (kept in the
rejections stream, never routed), so a captured signed body can't carry
appended events. A source can refuse the first-element form altogether
(``webhook_first_element_signature: false``).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass

from flask import Blueprint, Response, current_app, jsonify, request

from router.config import SourceConfig
from router.ingest import BadRequest, intake, read_body
from router.intake import MAX_BATCH_EVENTS

bp = Blueprint("webhook", __name__)

NOT_COVERED = "not covered by X-Signature"
_HEX_SHA1 = re.compile(r"[0-9a-fA-F]{40}")


@dataclass(frozen=True)
class Verified:
    source: SourceConfig
    #: the signature covers the whole body (else only the first element of an array)
    whole_body: bool


def first_element_bytes(raw: bytes) -> bytes | None:
    """The bytes of a JSON array's first element, exactly as sent (UTF-8)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    start = len(text) - len(text.lstrip())
    if not text[start:].startswith("["):
        return None
    idx = start + 1
    while idx < len(text) and text[idx].isspace():
        idx += 1
    try:
        _, end = json.JSONDecoder().raw_decode(text, idx)
    except (ValueError, RecursionError):
        return None
    return text[idx:end].encode("utf-8", "surrogatepass")


def sign(secret: str, data: bytes) -> str:
    return hmac.new(secret.encode(), data, hashlib.sha1).hexdigest()


def verify(raw: bytes, signature: str) -> Verified:
    """The source whose webhook_secret made ``signature``, and what it covers; 401 otherwise."""
    if not _HEX_SHA1.fullmatch(signature):
        raise BadRequest(401, "X-Signature must be 40 hex digits (HMAC-SHA1)", "X-Signature")
    given = signature.lower().encode("ascii")
    sources = [s for s in current_app.extensions["eventrouter.runtime"].config.sources if s.webhook_secret]
    for source in sources:
        if hmac.compare_digest(sign(source.webhook_secret, raw).encode("ascii"), given):
            return Verified(source, whole_body=True)
    first = first_element_bytes(raw)
    if first is not None:
        for source in sources:
            if hmac.compare_digest(sign(source.webhook_secret, first).encode("ascii"), given):
                if not source.webhook_first_element_signature:
                    raise BadRequest(
                        401,
                        f"X-Signature covers only the first element; source {source.name!r} accepts only "
                        "signatures over the whole body (webhook_first_element_signature: false)",
                        "X-Signature",
                    )
                return Verified(source, whole_body=False)
    raise BadRequest(401, "X-Signature does not match any source's webhook_secret", "X-Signature")


@bp.post("/v1/webhook")
def webhook() -> tuple[Response, int]:
    signature = request.headers.get("X-Signature", "").strip()
    if not signature:
        raise BadRequest(401, "missing X-Signature header", "X-Signature")
    verified = verify(request.get_data(cache=True), signature)  # before parsing: forged bodies cost only an HMAC
    body = read_body()
    events = body if isinstance(body, list) else [body]
    if len(events) > MAX_BATCH_EVENTS:
        raise BadRequest(400, f"{len(events)} events; the limit is {MAX_BATCH_EVENTS}")
    refuse = {} if verified.whole_body else {i: NOT_COVERED for i in range(1, len(events))}
    result = intake().accept(verified.source, events, refuse=refuse)  # sizes checked: see ingest._batch
    if not isinstance(body, list) and result.rejected:
        return jsonify({"success": False, "errors": result.rejected[0]["errors"]}), 400
    return jsonify(result.as_batch_answer()), 200
