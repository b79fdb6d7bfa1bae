"""Operator API: health, delivery stats, dead letters and their replay, ingest rejections.

Everything but /healthz needs ``Authorization: Bearer <admin_token>``; without
an admin_token in the config the operator API is off."""
from __future__ import annotations

import hmac
import json
import time
from functools import wraps
from typing import Any, Callable

import redis
from flask import Blueprint, Response, current_app, jsonify, request
from marshmallow import RAISE, Schema, ValidationError, fields, validate
from rq import Worker

from router import records, timeseries
from router.body import BadRequest, json_object
from router.dashboard import session
from router.replay import replayed_entries
from router.runtime import Runtime
from router.schemas import error_list

bp = Blueprint("admin", __name__)


def runtime() -> Runtime:
    return current_app.extensions["eventrouter.runtime"]


def admin_only(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = runtime().config.admin_token
        if not token:
            raise BadRequest(403, "the operator API is off: set admin_token in the config")
        given = request.headers.get("Authorization", "")
        if not given and dashboard_session(token):  # observe: the dashboard's cookie (router/dashboard/session.py)
            return view(*args, **kwargs)
        # the scheme is case-insensitive (RFC 9110); the header's bytes are compared as bytes, whatever they are:
        # the server gave them as latin-1 text, so a UTF-8 token's bytes come back by encoding them so (and
        # only spaces and tabs are stripped: str.strip() would also take a trailing byte 0x85 or 0xA0)
        if not (given[:7].lower() == "bearer "
                and hmac.compare_digest(given[7:].strip(" \t").encode("latin-1", "replace"), token.encode())):
            raise BadRequest(401, "send Authorization: Bearer <admin_token>")
        return view(*args, **kwargs)

    return wrapper


def dashboard_session(token: str) -> bool:
    """observe: a valid dashboard session cookie; with a CSRF token on anything that changes state."""
    cookie = request.cookies.get(session.COOKIE)
    if not session.valid(cookie, token):
        return False
    if request.method not in session.SAFE_METHODS and not session.csrf_ok(cookie, token, request.headers.get(session.CSRF_HEADER)):
        raise BadRequest(403, f"missing or wrong {session.CSRF_HEADER}: reload the dashboard")
    return True


def health(rt: Runtime) -> tuple[dict[str, Any], bool]:
    try:
        rt.redis.ping()
    except redis.RedisError as exc:
        return {"redis": f"unreachable ({type(exc).__name__})"}, False
    queues = {q.name for q in rt.rq_queues()}
    workers = [w for w in Worker.all(connection=rt.redis) if queues & set(w.queue_names())]
    tick = rt.redis.get(rt.queue.keys.ticker)
    return {
        "redis": "ok",
        "workers": len(workers),
        "scheduler_last_tick_seconds_ago": round(time.time() - float(tick), 1) if tick else None,
    }, True


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    body, ok = health(runtime())
    return jsonify({"ok": ok, **body}), 200 if ok else 503


@bp.get("/v1/admin/destinations")
@admin_only
def destinations() -> Response:
    rt = runtime()
    out = []
    for d in rt.config.destinations:
        out.append({"name": d.name, "type": d.type, "enabled": d.enabled, **records.destination_counts(rt.queue.depth(d.name))})
    return jsonify({"ingest": ingest_counts(rt), "destinations": out})


def ingest_counts(rt: Runtime) -> dict[str, int]:
    """accepted / rejected / duplicate / suppressed, as counted at ingest."""
    totals, _ = timeseries.ingest_totals(rt.redis.hgetall(rt.queue.keys.ingest_stats))
    return records.ingest_counts(totals)


def page_size(default: int = 50) -> int:
    """``?limit=``: a bad value falls back to the default rather than failing the page."""
    return max(1, min(request.args.get("limit", default, type=int), 1000))


def _destination(name: str) -> str:
    try:
        runtime().config.destination(name)
    except KeyError as exc:
        raise BadRequest(404, str(exc.args[0])) from None
    return name


@bp.get("/v1/admin/dead-letters/<name>")
@admin_only
def dead_letters(name: str) -> Response:
    """Newest first, ``limit`` a page; ``next`` (null on the last page) is the ``before`` of the next page."""
    rt = runtime()
    limit = page_size()
    before = request.args.get("before", "")
    if before and records.stream_id(before) is None:
        raise BadRequest(400, f"before takes a dead letter's entry id (like 1700000000000-0): {before[:60]!r}", "before")
    entries = rt.queue.dead_letters(_destination(name), count=limit, newest_first=True, before=before)
    return jsonify({"destination": name, "dead_letters": [records.dead_letter(eid, rec) for eid, rec in entries],
                    "next": entries[-1][0] if len(entries) == limit else None})


@bp.get("/v1/admin/retrying/<name>")
@admin_only
def retrying(name: str) -> Response:
    limit = page_size()
    return jsonify({"destination": name, "retrying": runtime().queue.retrying(_destination(name), limit)})


def entry_id(value: str) -> None:
    """An entry id Redis accepts (``<ms>-<seq>``, each part 64-bit): another would fail the read as a storage error."""
    if records.stream_id(value) is None:
        raise ValidationError("not a dead letter entry id")


class ReplaySchema(Schema):
    """The replay body: everything since a time, or the chosen entries (no body: all of them)."""

    class Meta:
        unknown = RAISE

    since_ms = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=2**53))
    entry_ids = fields.List(
        fields.String(validate=entry_id),
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=10000),
    )


@bp.post("/v1/admin/dead-letters/<name>/replay")
@admin_only
def replay_dead_letters(name: str) -> tuple[Response, int]:
    # a body that is not what it should be is refused, never read as "replay everything"
    try:
        body = ReplaySchema().load(json_object(request.get_data(cache=True), empty_ok=True))
    except ValidationError as exc:
        return jsonify({"success": False, "errors": error_list(exc.messages)}), 400
    moved = replayed_entries(runtime(), _destination(name), since_ms=body["since_ms"], ids=body["entry_ids"])
    answer: dict[str, Any] = {"success": True, "replayed": len(moved)}
    if body["entry_ids"]:  # the chosen ones not there: replayed or discarded meanwhile, or expired
        answer["not_found"] = sorted(set(body["entry_ids"]) - set(moved))
    return jsonify(answer), 200


@bp.get("/v1/admin/rejected")
@admin_only
def rejected() -> Response:
    rt = runtime()
    limit = page_size()
    entries = rt.redis.xrevrange(rt.queue.keys.rejected, count=limit)
    return jsonify({"rejected": [records.rejected(eid.decode(), json.loads(f[b"d"])) for eid, f in entries]})
