"""Keeps secrets out of everything the router stores or shows."""
from __future__ import annotations

import json
import re
from typing import Any, Callable, Iterable

REDACTED = "[redacted]"
#: a JSON string (or a Prometheus label value: the same quoting) or number
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?')


class Redactor:
    """Replaces each secret value (and its JSON-escaped forms) with ``[redacted]``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for s in secrets:
            if s and len(s) >= 4:  # shorter values would redact ordinary text
                forms.add(s)
                forms.add(json.dumps(s)[1:-1])
                forms.add(json.dumps(s)[1:-1].replace("/", "\\/"))  # JSON may escape "/" too (PHP does)
        # longest first, so a secret containing another is replaced whole
        self.forms = sorted(forms, key=len, reverse=True)
        self._whole = frozenset(forms)

    def text(self, value: str | None) -> str | None:
        if not value:
            return value
        for form in self.forms:
            if form in value:
                value = value.replace(form, REDACTED)
        return value

    def json_text(self, value: str | None, numbers: bool = True) -> str | None:
        """JSON text redacted so that it stays JSON: inside its strings as ``text`` does, and a
        number that is a secret becomes the string ``"[redacted]"`` (``numbers``; False for the
        Prometheus text, whose label values are quoted alike). A number that only holds a secret's
        digits is not the secret, and stays: ``text`` made ``76[redacted]9`` of it."""
        if not value or not any(form in value for form in self.forms):
            return value
        return _TOKEN.sub(lambda m: self._token(m.group(0), numbers), value)

    def _token(self, token: str, numbers: bool) -> str:
        if token[0] == '"':
            return self.text(token) or token
        return f'"{REDACTED}"' if numbers and (token in self._whole or token.lstrip("-") in self._whole) else token

    def value(self, value: Any, default: Callable[[Any], Any] = str) -> Any:
        """A JSON value (a record, an answer) redacted as ``json_text`` redacts its text; ``default``
        writes what JSON has no type for."""
        return json.loads(self.json_text(json.dumps(value, ensure_ascii=False, default=default)) or "null")

    def record(self, u: str, text: str) -> str:
        """A stored record's JSON object ``text`` redacted, with ``"u": u``, its user hash, put first
        as it is: a secret of a few hex digits may be part of the hash, and a GDPR delete finds a
        user's records by their first "u" (router/scripts.py PURGE, SETTLE)."""
        body = self.json_text(text) or "{}"
        return '{"u":' + json.dumps(u) + ("}" if body == "{}" else "," + body[1:])
