"""Vendor exchanges as the router stores them: redacted and bounded.

A destination's client records what it sent and what came back
(destinations/recording.py), secrets included. Before an exchange is kept with
a dead letter or in the sample of recent deliveries it loses every configured
secret and every credential the request carried in its headers (a session's
Basic auth, a token header), wherever they appear: URL, headers, bodies, the
vendor's echo of them.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.parse
from typing import Any, Iterable

from router.redact import REDACTED, Redactor

#: header names whose values are credentials whatever they contain
SECRET_HEADER = re.compile(r"auth|key|token|secret|password|cookie", re.IGNORECASE)
#: the most the exchanges kept with one dead letter (or one sample) take, as JSON
TOTAL_LIMIT = 16 * 1024


def credentials(headers: dict[str, str]) -> list[str]:
    """The secret values a request's headers carry: the whole value of a credential header,
    the token after ``Bearer``, and for Basic auth the encoded pair, the pair and the password."""
    found: list[str] = []
    for name, value in headers.items():
        if SECRET_HEADER.search(name) and value:
            found += credential_forms(value)
    return found


def credential_forms(value: str) -> list[str]:
    """A credential header value and what it carries: the value, the token after its scheme
    (``Bearer t`` -> ``t``), and for Basic the decoded pair and its password; a vendor or an
    error message may show any one of them alone."""
    found = [value]
    scheme, _, rest = value.partition(" ")
    rest = rest.strip()
    if not rest:
        return found
    found.append(rest)
    if scheme.lower() == "basic":
        try:
            pair = base64.b64decode(rest, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return found
        found.append(pair)
        found.append(pair.partition(":")[2])
    return found


def url_forms(secrets: Iterable[str]) -> list[str]:
    """Each secret as it is and URL-encoded (a query token, percent- or plus-encoded in a URL)."""
    out: dict[str, None] = {}  # in order, each once
    for s in secrets:
        out.update(dict.fromkeys((s, urllib.parse.quote(s, safe=""), urllib.parse.quote_plus(s))))
    return list(out)


def scrubber(exchanges: list[dict[str, Any]] | None, redactor: Redactor) -> Redactor:
    """``redactor`` plus the credentials these exchanges' requests carried (and their URL-encoded
    forms): for anything stored about the call, e.g. a dead letter's response excerpt and reason."""
    found = [c for x in exchanges or () for c in credentials(x.get("headers") or {})]
    if not found:
        return redactor
    return Redactor(url_forms([*redactor.forms, *found]))


def redact(exchange: dict[str, Any], scrub: Redactor, body: str | None = None) -> dict[str, Any]:
    """One exchange with no secret left in it (``scrub``: see :func:`scrubber`). ``body``: what
    stands for the request and response bodies instead of them (they are then not scrubbed)."""

    def headers(h: dict[str, str]) -> dict[str, str]:
        return {k: REDACTED if SECRET_HEADER.search(k) else (scrub.text(v) or "") for k, v in (h or {}).items()}

    out = {"method": exchange.get("method"), "url": scrub.text(exchange.get("url")),
           "headers": headers(exchange.get("headers") or {}),
           "body": body if body is not None else scrub.text(exchange.get("body")) or ""}
    response = exchange.get("response")
    if response is not None:
        out["response"] = {"status": response.get("status"), "headers": headers(response.get("headers") or {}),
                           "body": body if body is not None else scrub.text(response.get("body")) or ""}
    if exchange.get("error"):
        out["error"] = exchange["error"]
    return out


SHARED_BODY = "[not kept: this request carried the events of {n} people; this event's part is the payload]"


def stored(exchanges: list[dict[str, Any]] | None, scrub: Redactor, limit: int = TOTAL_LIMIT,
           shared_by: int = 1) -> dict[str, Any]:
    """``{"exchanges": [...]}`` redacted by ``scrub`` (see :func:`scrubber`), newest kept first within ``limit`` bytes of JSON (the last
    exchange always: its bodies are already bounded), plus how many earlier ones were left out.

    ``shared_by``: how many people's events the call carried. With more than one, the request and
    response bodies are not kept: they hold the others' data, which a GDPR delete of one of them
    could not reach inside this record."""
    if not exchanges:
        return {}
    kept: list[dict[str, Any]] = []
    size = 0
    shared = SHARED_BODY.format(n=shared_by) if shared_by > 1 else None
    for exchange in reversed(exchanges):
        clean = redact(exchange, scrub, shared)
        n = len(json.dumps(clean, ensure_ascii=False))
        if kept and size + n > limit:
            break
        kept.append(clean)
        size += n
    out: dict[str, Any] = {"exchanges": kept[::-1]}
    if len(kept) < len(exchanges):
        out["exchanges_left_out"] = len(exchanges) - len(kept)
    return out
