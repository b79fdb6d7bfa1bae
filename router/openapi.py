"""The OpenAPI 3.1 description of the HTTP API, served at ``/openapi.json``.

Kept as data next to the code it describes; ``tests/router/test_openapi.py``
checks that every Flask route is described and every described path exists,
so a route added without a description fails the suite.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

bp = Blueprint("openapi", __name__)

#: Segment's call types by path (short paths are analytics.js's)
SINGLE_PATHS = {
    "identify": "identify", "track": "track", "page": "page", "screen": "screen", "group": "group", "alias": "alias",
    "i": "identify", "t": "track", "p": "page", "s": "screen", "g": "group", "a": "alias",
}
BATCH_PATHS = ("batch", "b", "import")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


ADMIN = [{"adminToken": []}]
WRITE_KEY = [{"writeKey": []}, {}]  # Basic auth, or writeKey in the body
NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}, "description": "destination name"}
LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
         "description": "page size; a bad value falls back to the default"}
ADMIN_ERRORS = {"401": _error("no or wrong admin token"), "403": _error("the operator API is off (no admin_token)")}
INGEST_ERRORS = {
    "400": _error("not valid JSON, gzip or Segment; the errors name the field"),
    "401": _error("unknown or missing write key"),
    "413": _error("an event over 32 KB or a request over 500 KB"),
    "503": _error("storage unavailable; retry after Retry-After"),
}
GZIP_BODY = "`application/json` or `text/plain`, optionally `Content-Encoding: gzip`"


def _single(kind: str) -> dict[str, Any]:
    return {
        "post": {
            "tags": ["ingest"],
            "summary": f"Send one {kind} call",
            "security": WRITE_KEY,
            "requestBody": {"required": True, "description": GZIP_BODY,
                            "content": {"application/json": {"schema": _ref("Event")}, "text/plain": {"schema": _ref("Event")}}},
            "responses": {"200": _json(_ref("Success"), "accepted (kept until delivered or dead-lettered)"), **INGEST_ERRORS},
        }
    }


def _batch() -> dict[str, Any]:
    return {
        "post": {
            "tags": ["ingest"],
            "summary": "Send up to 2,500 calls; valid ones are kept even when others are rejected",
            "security": WRITE_KEY,
            "requestBody": {"required": True, "description": GZIP_BODY,
                            "content": {"application/json": {"schema": _ref("Batch")}, "text/plain": {"schema": _ref("Batch")}}},
            "responses": {"200": _json(_ref("BatchAnswer"), "per-event outcome counts; rejected events with reasons"),
                          **INGEST_ERRORS},
        }
    }


def _paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, kind in SINGLE_PATHS.items():
        paths[f"/v1/{path}"] = _single(kind)
    for path in BATCH_PATHS:
        paths[f"/v1/{path}"] = _batch()
    paths["/v1/{kind}"] = {
        "options": {"tags": ["ingest"], "summary": "CORS preflight of the ingest paths",
                    "parameters": [{"name": "kind", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"204": {"description": "CORS headers"}}},
    }
    paths["/v1/webhook"] = {
        "post": {
            "tags": ["ingest"],
            "summary": "Segment's Webhooks destination: one event or an array, signed",
            "parameters": [{"name": "X-Signature", "in": "header", "required": True, "schema": {"type": "string"},
                            "description": "hex HMAC-SHA1 of the raw body with the source's webhook_secret"}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"oneOf": [_ref("Event"), {"type": "array", "items": _ref("Event")}]}}}},
            "responses": {"200": _json(_ref("BatchAnswer"), "accepted"), "400": _error("not valid"),
                          "401": _error("missing or wrong signature"), "503": _error("storage unavailable")},
        }
    }
    write_key = {"name": "write_key", "in": "path", "required": True, "schema": {"type": "string"}}
    paths["/v1/projects/{write_key}/settings"] = {
        "get": {"tags": ["ingest"], "summary": "analytics.js settings (cdnURL): the router as the only destination",
                "parameters": [write_key],
                "responses": {"200": _json({"type": "object"}, "the settings document"), "404": _error("unknown write key")}},
        "options": {"tags": ["ingest"], "summary": "CORS preflight", "parameters": [write_key],
                    "responses": {"204": {"description": "CORS headers"}}},
    }
    paths["/v1/regulations"] = {
        "post": {
            "tags": ["regulations"], "summary": "Delete and/or suppress users (GDPR)", "security": ADMIN,
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Regulation")}}},
            "responses": {"200": _json({"type": "object", "properties": {"regulateId": {"type": "string"}}}, "accepted"),
                          "400": _error("not a valid regulation"), **ADMIN_ERRORS},
        },
        "get": {"tags": ["regulations"], "summary": "Regulations, newest first", "security": ADMIN, "parameters": [LIMIT],
                "responses": {"200": _json({"type": "object", "properties": {
                    "regulations": {"type": "array", "items": _ref("RegulationStatus")}}}, "the list"), **ADMIN_ERRORS}},
    }
    paths["/v1/regulations/{reg_id}"] = {
        "get": {"tags": ["regulations"], "summary": "A regulation's status per destination", "security": ADMIN,
                "parameters": [{"name": "reg_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": _json(_ref("RegulationStatus"), "its status"), "404": _error("no such regulation"),
                              **ADMIN_ERRORS}},
    }
    paths["/v1/admin/destinations"] = {
        "get": {"tags": ["admin"], "summary": "Ingest counts; each destination's state, queue depth and counters",
                "security": ADMIN, "responses": {"200": _json(_ref("Stats"), "the counts"), **ADMIN_ERRORS}},
    }
    paths["/v1/admin/dead-letters/{name}"] = {
        "get": {"tags": ["admin"], "summary": "A destination's dead letters, newest first (secrets redacted)",
                "security": ADMIN, "parameters": [NAME, LIMIT, {
                    "name": "before", "in": "query", "schema": {"type": "string"},
                    "description": "only dead letters older than this entry id: the previous page's next"}],
                "responses": {"200": _json({"type": "object", "properties": {
                    "destination": {"type": "string"}, "dead_letters": {"type": "array", "items": _ref("DeadLetter")},
                    "next": {"type": ["string", "null"], "description": "before of the next page; null on the last"}}},
                    "the dead letters"), "400": _error("before is not an entry id"), "404": _error("no such destination"),
                    **ADMIN_ERRORS}},
    }
    paths["/v1/admin/dead-letters/{name}/replay"] = {
        "post": {"tags": ["admin"], "summary": "Re-queue dead letters (all since since_ms, or the entry ids given)",
                 "security": ADMIN, "parameters": [NAME],
                 "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {
                     "since_ms": {"type": "integer"}, "entry_ids": {"type": "array", "items": {"type": "string"}}}}}}},
                 "responses": {"200": _json({"type": "object", "properties": {
                     "success": {"const": True}, "replayed": {"type": "integer"},
                     "not_found": {"type": "array", "items": {"type": "string"},
                                   "description": "with entry_ids: those not there (replayed, discarded or expired)"}}},
                     "how many were re-queued"),
                     "404": _error("no such destination"), **ADMIN_ERRORS}},
    }
    paths["/v1/admin/retrying/{name}"] = {
        "get": {"tags": ["admin"], "summary": "Events waiting for a retry, soonest first, with their last error",
                "security": ADMIN, "parameters": [NAME, LIMIT],
                "responses": {"200": _json({"type": "object", "properties": {
                    "destination": {"type": "string"}, "retrying": {"type": "array", "items": {"type": "object"}}}},
                    "the waiting events"), "404": _error("no such destination"), **ADMIN_ERRORS}},
    }
    paths["/v1/admin/rejected"] = {
        "get": {"tags": ["admin"], "summary": "Events rejected at ingest, newest first, with the reasons",
                "security": ADMIN, "parameters": [LIMIT],
                "responses": {"200": _json({"type": "object", "properties": {
                    "rejected": {"type": "array", "items": _ref("Rejected")}}}, "the rejections"), **ADMIN_ERRORS}},
    }
    paths["/healthz"] = {
        "get": {"tags": ["operations"], "summary": "Redis reachable, workers seen, the scheduler's last tick",
                "responses": {"200": _json(_ref("Health"), "healthy"), "503": _json(_ref("Health"), "Redis unreachable")}},
    }
    paths["/dashboard"] = {
        "get": {"tags": ["operations"], "summary": "The delivery dashboard (HTML; asks for the admin token)",
                "responses": {"200": {"description": "the page", "content": {"text/html": {}}}}},
    }
    entry_id = {"name": "entry_id", "in": "path", "required": True, "schema": {"type": "string"},
                "description": "a dead letter's stream entry id (`<ms>-<seq>`)"}
    window = [{"name": "reason", "in": "query", "schema": _STR, "description": "reason contains this text"},
              {"name": "since_ms", "in": "query", "schema": _INT}, {"name": "until_ms", "in": "query", "schema": _INT}]
    paths["/metrics"] = {
        "get": {"tags": ["operations"], "summary": "Prometheus metrics, read from Redis (admin token unless metrics_public)",
                "security": [{"adminToken": []}, {}],
                "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {}}}, **ADMIN_ERRORS}},
    }
    paths["/v1/admin/test/{name}"] = {
        "post": {"tags": ["admin"], "summary": "The event tester: validation, routing and the exact vendor request(s); "
                 "`\"send\": true` sends once", "security": ADMIN, "parameters": [NAME],
                 "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Event")}}},
                 "responses": {"200": _json(_OBJ, "the report"), "400": _error("not a JSON object"),
                               "404": _error("no such destination"),
                               "429": _json(_OBJ, "`send`: the destination's rate limit is spent; the report says when "
                                            "to try again (`rate_limited`, seconds; also Retry-After); nothing was sent"),
                               **ADMIN_ERRORS}},
    }
    paths["/v1/admin/trace"] = {
        "get": {"tags": ["admin"], "summary": "An event's fate by messageId, or a user's recent events by userId",
                "security": ADMIN, "parameters": [
                    {"name": "messageId", "in": "query", "schema": _STR}, {"name": "userId", "in": "query", "schema": _STR}],
                "responses": {"200": _json(_OBJ, "the trace"), "400": _error("give messageId or userId"), **ADMIN_ERRORS}},
    }
    paths["/v1/admin/overview"] = {
        "get": {"tags": ["admin"], "summary": "Per-destination counts over time and latency percentiles (the dashboard's charts)",
                "security": ADMIN, "parameters": [{"name": "range", "in": "query",
                                                   "schema": {"enum": ["hour", "day", "week"]}}],
                "responses": {"200": _json(_OBJ, "the overview"), **ADMIN_ERRORS}},
    }
    paths["/v1/admin/errors/{name}"] = {
        "get": {"tags": ["admin"], "summary": "A destination's dead letters grouped by reason (count, last seen, sample)",
                "security": ADMIN, "parameters": [NAME],
                "responses": {"200": _json(_OBJ, "the groups"), "404": _error("no such destination"), **ADMIN_ERRORS}},
    }
    paths["/v1/admin/dead-letters/{name}/search"] = {
        "get": {"tags": ["admin"], "summary": "Dead letters filtered by reason and time", "security": ADMIN,
                "parameters": [NAME, *window, LIMIT],
                "responses": {"200": _json(_OBJ, "the matches"), "400": _error("a bad filter"),
                              "404": _error("no such destination"), **ADMIN_ERRORS}},
    }
    paths["/v1/admin/dead-letters/{name}/discard"] = {
        "post": {"tags": ["admin"], "summary": "Discard dead letters: the entry ids given, or all matching a filter",
                 "security": ADMIN, "parameters": [NAME],
                 "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "properties": {
                     "entry_ids": {"type": "array", "items": _STR}, "all": {"type": "boolean"}, "reason": _STR,
                     "since_ms": _INT, "until_ms": _INT}}}}},
                 "responses": {"200": _json(_OBJ, "how many were discarded"), "400": _error("a bad body"),
                               "404": _error("no such destination"), **ADMIN_ERRORS}},
    }
    paths["/v1/admin/dead-letters/{name}/{entry_id}"] = {
        "get": {"tags": ["admin"], "summary": "One failed event: what the client sent, the request made (method, URL, headers, "
                "body) and the vendor's answer (status, headers, body), as stored, secrets redacted",
                "security": ADMIN, "parameters": [NAME, entry_id],
                "responses": {"200": _json(_OBJ, "the dead letter"), "404": _error("no such destination or entry"),
                              **ADMIN_ERRORS}},
    }
    paths["/v1/admin/deliveries/{name}"] = {
        "get": {"tags": ["admin"], "summary": "Recent deliveries: the newest delivered requests and the vendor's answers "
                "(one per batch, `metrics: {samples: N}` kept, secrets redacted), newest first",
                "security": ADMIN, "parameters": [NAME],
                "responses": {"200": _json(_OBJ, "the sample"), "404": _error("no such destination"), **ADMIN_ERRORS}},
    }
    paths["/v1/admin/live"] = {
        "get": {"tags": ["admin"], "summary": "The most recent events in and out (a bounded sample)", "security": ADMIN,
                "responses": {"200": _json(_OBJ, "the sample"), **ADMIN_ERRORS}},
    }
    paths["/dashboard/login"] = {
        "post": {"tags": ["operations"], "summary": "Log in with the admin token (form field `token`); sets an HttpOnly cookie",
                 "responses": {"303": {"description": "to /dashboard"}, "401": {"description": "wrong token"}}},
    }
    paths["/dashboard/logout"] = {
        "post": {"tags": ["operations"], "summary": "Log out (clears the cookie)", "responses": {"303": {"description": "to /dashboard"}}},
    }
    paths["/dashboard/static/{filename}"] = {
        "get": {"tags": ["operations"], "summary": "The dashboard's script, styles and chart library",
                "parameters": [{"name": "filename", "in": "path", "required": True, "schema": _STR}],
                "responses": {"200": {"description": "the file"}, "404": {"description": "no such file"}}},
    }
    paths["/openapi.json"] = {
        "get": {"tags": ["operations"], "summary": "This description",
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")}},
    }
    return paths


_STR = {"type": "string"}
_INT = {"type": "integer"}
_OBJ = {"type": "object"}
_MS = {"type": "integer", "description": "epoch milliseconds"}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["success", "errors"], "properties": {
        "success": {"const": False},
        "errors": {"type": "array", "items": {"type": "object", "properties": {"path": _STR, "message": _STR}}}}},
    "Success": {"type": "object", "properties": {"success": {"const": True}}},
    "Event": {"type": "object", "description": "A Segment call (the spec at segment.com/docs/connections/spec)",
              "properties": {"type": {"enum": ["identify", "track", "page", "screen", "group", "alias", "delete"]},
                             "userId": _STR, "anonymousId": _STR, "event": _STR, "name": _STR, "groupId": _STR,
                             "previousId": _STR, "properties": _OBJ, "traits": _OBJ, "context": _OBJ,
                             "integrations": _OBJ, "timestamp": _STR, "sentAt": _STR, "messageId": _STR,
                             "writeKey": _STR}},
    "Batch": {"type": "object", "required": ["batch"], "properties": {
        "batch": {"type": "array", "maxItems": 2500, "items": _ref("Event")},
        "context": _OBJ, "integrations": _OBJ, "sentAt": _STR, "writeKey": _STR}},
    "BatchAnswer": {"type": "object", "properties": {
        "success": {"type": "boolean"}, "accepted": _INT, "duplicates": _INT, "suppressed": _INT,
        "rejected": {"type": "array", "items": {"type": "object", "properties": {"index": _INT, "errors": {"type": "array"}}}}}},
    "Regulation": {"type": "object", "required": ["regulationType", "subjectType", "subjectIds"], "properties": {
        "regulationType": {"enum": ["SUPPRESS_WITH_DELETE", "DELETE_ONLY", "SUPPRESS_ONLY", "UNSUPPRESS"]},
        "subjectType": {"const": "USER_ID"},
        "subjectIds": {"type": "array", "maxItems": 5000, "items": _STR}}},
    "RegulationStatus": {"type": "object", "properties": {
        "regulateId": _STR, "regulationType": _STR, "createdAt": {"type": "string", "format": "date-time"},
        "subjects": _INT, "status": {"enum": ["pending", "finished", "failed"]},
        "destinations": {"type": "object", "additionalProperties": {"type": "object", "properties": {
            "status": {"enum": ["pending", "finished", "failed", "not_supported"]}}}}}},
    "Stats": {"type": "object", "properties": {
        "ingest": {"type": "object", "description": "rejected: refused at ingest (not valid); not delivery outcomes",
                   "properties": {"accepted": _INT, "rejected": _INT, "duplicate": _INT, "suppressed": _INT}},
        "destinations": {"type": "array", "items": {"type": "object", "properties": {
            "name": _STR, "type": _STR, "enabled": {"type": "boolean"}, "buffered": _INT, "retrying": _INT,
            "inflight_batches": _INT, "dead_letters": {"type": "integer", "description": "dead letters kept now"},
            "delivered": _INT, "skipped": _INT, "retried": _INT,
            "dead_lettered": {"type": "integer", "description": "events that became dead letters (refused or gave up)"},
            "forgotten": _INT}}}}},
    "DeadLetter": {"type": "object", "description": "an event the destination refused, or that delivery gave up on",
                   "properties": {
                       "entry_id": _STR, "id": _STR, "destination": _STR, "reason": _STR,
                       "status": {"type": ["integer", "null"]}, "response": {"type": ["string", "null"]},
                       "attempts": _INT, "received_at": _MS, "first_attempt_at": _MS, "failed_at": _MS,
                       "event": _OBJ, "payload": {}}},
    "Rejected": {"type": "object", "properties": {
        "entry_id": _STR, "source": _STR, "received_at": _MS,
        "errors": {"type": "array", "items": {"type": "object"}}, "event": {}}},
    "Health": {"type": "object", "properties": {
        "ok": {"type": "boolean"}, "redis": _STR, "workers": _INT,
        "scheduler_last_tick_seconds_ago": {"type": ["number", "null"]}}},
}


def spec() -> dict[str, Any]:
    """The whole description (built once per call; small)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "eventrouter", "version": _version(),
                 "description": "Segment-compatible HTTP Tracking API, Segment webhook source, GDPR regulations "
                                "and the operator API. Errors are JSON: {success: false, errors: [{path, message}]}."},
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "writeKey": {"type": "http", "scheme": "basic", "description": "the write key as the user name, empty password"},
                "adminToken": {"type": "http", "scheme": "bearer", "description": "the config's admin_token"},
            },
        },
    }


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("eventrouter")
    except PackageNotFoundError:
        return "0"


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(spec())
