"""A fake Extole API that checks requests the way Extole documents them and answers like it.

- ``Authorization: Bearer <token>``: missing -> 403 missing_access_token, wrong -> 401 invalid_access_token;
- ``Content-Type: application/json``, else 415;
- known paths only; anything else gets the empty 204 Extole gives a misrouted request;
- events need ``event_name`` and an ``event_time`` like 2013-08-11T14:33:18-0700; erasures need a key;
- errors use Extole's envelope ``{unique_id, http_status_code, code, message, parameters}``.

``script`` replies come first (one per request) to play 429s, 500s and the like.
"""
from __future__ import annotations

import re
from typing import Any

from tests.fakes.http import FakeServer, Reply, Request

API_KEY = "test-extole-token-7f3a"
EVENT_PATHS = {"/v5/events", "/v6/events", "/v6/async-events", "/v5/events/identify"}
ERASURE_PATH = "/v4/erasures"
EVENT_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$")


def error(status: int, code: str, message: str, **parameters: Any) -> Reply:
    return Reply(
        status,
        {"unique_id": "6f1c2a", "http_status_code": status, "code": code, "message": message, "parameters": parameters},
    )


class FakeExtole(FakeServer):
    def __init__(self, api_key: str = API_KEY) -> None:
        super().__init__(self.handle)
        self.api_key = api_key
        self.script: list[Reply] = []

    def handle(self, req: Request) -> Reply:
        if self.script:
            return self.script.pop(0)
        auth = req.headers.get("Authorization")
        if not auth:
            return error(403, "missing_access_token", "No access token was provided")
        if auth != f"Bearer {self.api_key}":
            return error(401, "invalid_access_token", "The access token is invalid")
        if req.method != "POST":
            return error(405, "method_not_allowed", "Use POST")
        if req.headers.get("Content-Type") != "application/json":
            return error(415, "unsupported_media_type", "Content-Type must be application/json")
        try:
            body = req.json()
        except ValueError:
            return error(400, "invalid_json", "The body is not JSON")
        if req.path == ERASURE_PATH:
            return self.erasure(body)
        if req.path not in EVENT_PATHS:
            return Reply(204, b"")
        return self.event(req.path, body)

    def event(self, path: str, body: dict[str, Any]) -> Reply:
        if path == "/v5/events/identify":
            data = body
        else:
            if not body.get("event_name"):
                return error(400, "missing_event_name", "event_name is required")
            data = body.get("data")
            if not isinstance(data, dict):
                return error(400, "validation_error", "data must be an object")
        when = data.get("event_time")
        if when is not None and not EVENT_TIME.match(when):
            return error(400, "invalid_event_time_format", "event_time must be ISO 8601", event_time=when)
        if not data.get("email") and not data.get("partner_user_id"):
            return error(400, "validation_error", "email or partner_user_id is required")
        if path == "/v5/events":
            return Reply(200, {})
        if path == "/v6/async-events":
            return Reply(202, {"event_id": "e-1"})
        return Reply(200, {"event_id": "e-1", "person_id": "p-1"})

    def erasure(self, body: dict[str, Any]) -> Reply:
        if not body.get("email") and not body.get("partner_user_id"):
            return error(400, "validation_error", "email or partner_user_id is required")
        return Reply(200, {"id": "er-1", "status": "PENDING", "note": body.get("note"), "created_date": "2026-11-23"})
