"""Keeps secrets out of everything the router stores or shows."""
from __future__ import annotations

import json
from typing import Iterable

REDACTED = "[redacted]"


class Redactor:
    """Replaces each secret value (and its JSON-escaped form) with ``[redacted]``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for s in secrets:
            if s and len(s) >= 4:  # shorter values would redact ordinary text
                forms.add(s)
                forms.add(json.dumps(s)[1:-1])
        # longest first, so a secret containing another is replaced whole
        self.forms = sorted(forms, key=len, reverse=True)

    def text(self, value: str | None) -> str | None:
        if not value:
            return value
        for form in self.forms:
            if form in value:
                value = value.replace(form, REDACTED)
        return value

    def record(self, u: str, text: str) -> str:
        """A stored record's JSON object ``text`` redacted, with ``"u": u``, its user hash, put first
        as it is: a secret of a few hex digits may be part of the hash, and a GDPR delete finds a
        user's records by their first "u" (router/scripts.py PURGE, SETTLE)."""
        body = self.text(text) or "{}"
        return '{"u":' + json.dumps(u) + ("}" if body == "{}" else "," + body[1:])
