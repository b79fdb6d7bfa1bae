"""GDPR: delete and suppress users across every destination.

Three ways in, one behaviour: a ``delete`` call (through /v1/batch, the short
paths or /v1/webhook) and ``POST /v1/regulations`` both

1. make the router forget the user: their events still waiting in buffers,
   in-flight batches, retries, dead letters and ingest rejections are removed,
   and a batch claimed just before is dropped at send time (the delete wins);
2. queue a ``delete`` event for each destination that can delete, delivered
   with the normal retries; its outcome updates the regulation's status.

Suppression drops a user's events at ingest (answered 200, counted) until
UNSUPPRESS. Regulation records keep hashes of user ids, never the ids.
"""
from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any, Iterable

from flask import Blueprint, Response, current_app, jsonify, request
from marshmallow import Schema, ValidationError, fields, validate

from router import trace
from router.admin import admin_only, page_size
from router.body import json_object
from router.queue import now_ms
from router.envelopes import envelope, user_hash
from router.redact import Redactor
from router.runtime import Runtime

if TYPE_CHECKING:
    from redis.client import Pipeline
from router.schemas import error_list

bp = Blueprint("regulations", __name__)

DELETE_TYPES = {"SUPPRESS_WITH_DELETE", "DELETE_ONLY"}
SUPPRESS_TYPES = {"SUPPRESS_WITH_DELETE", "SUPPRESS_ONLY"}
MAX_SUBJECTS = 5000
REGULATION_TTL = 90 * 86400


class RegulationSchema(Schema):
    regulationType = fields.String(
        required=True, validate=validate.OneOf(["SUPPRESS_WITH_DELETE", "DELETE_ONLY", "SUPPRESS_ONLY", "UNSUPPRESS"])
    )
    subjectType = fields.String(required=True, validate=validate.OneOf(["USER_ID"]))
    subjectIds = fields.List(
        fields.String(validate=validate.Length(min=1, max=1000)),
        required=True,
        validate=validate.Length(min=1, max=MAX_SUBJECTS),
    )


def regulate(rt: Runtime, kind: str, user_ids: list[str], reg_id: str | None = None) -> str:
    """Apply a regulation; returns its id. Deletes reach every enabled destination that can delete."""
    reg_id = reg_id or uuid.uuid4().hex
    hashes = sorted({user_hash(u) for u in user_ids})
    keys = rt.queue.keys
    if kind in SUPPRESS_TYPES:
        rt.redis.sadd(keys.suppressed, *hashes)
    elif kind == "UNSUPPRESS":
        rt.redis.srem(keys.suppressed, *hashes)
    dests: list[str] = []
    if kind in DELETE_TYPES:
        dests = [d.name for d in rt.router.destinations_for({"type": "delete"})]
    record_regulation(rt, reg_id, kind, hashes, dests, unsupported_delete(rt) if kind in DELETE_TYPES else [])
    if kind in DELETE_TYPES:
        forget(rt, hashes)
        received = now_ms()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        events = [
            {"type": "delete", "userId": u, "messageId": f"delete-{reg_id}-{i}", "timestamp": stamp,
             "receivedAt": stamp, "context": {}, "integrations": {}}
            for i, u in enumerate(user_ids)
        ]
        envs = [envelope(e, e["messageId"], received, reg_id) for e in events]
        for name in dests:
            for start in range(0, len(envs), 1000):
                rt.wake([(name, rt.queue.push(name, envs[start : start + 1000]))])
    return reg_id


def forget(rt: Runtime, hashes: list[str]) -> int:
    """Remove the users' events from everything the router holds; returns how many were removed.
    After ``record_regulation``: CLAIM looks a batch's users up only while the newest regulation
    is recent enough for their forgotten:<u> keys to live."""
    rt.queue.mark_forgotten(hashes, now_ms())
    removed = rt.queue.purge_users("", hashes)
    for d in rt.config.destinations:
        removed += rt.queue.purge_users(d.name, hashes)
    trace.forget(rt, hashes)  # observe: the users' event traces go too
    return removed


def forget_deleted(rt: Runtime, deletes: list[dict[str, Any]], again: bool = False) -> None:
    """Ingest hook: ``delete`` calls already queued for their destinations; track each, then forget
    their users together: a forget reads every buffer and stream whole, so one per user of a batch
    of 2,500 deletes kept Redis busy for minutes. ``again``: duplicates of deletes queued before,
    whose request may have failed before this step (their record, when there, keeps its counts)."""
    hashes: dict[str, None] = {}
    unsupported = unsupported_delete(rt)
    pipe = rt.redis.pipeline(transaction=True)  # every record in one round trip, before the forget
    for event in deletes:
        h = user_hash(event["userId"])
        routed = [d.name for d in rt.router.destinations_for(event)]
        record_regulation(rt, f"del-{event['messageId']}", "DELETE_ONLY", [h], routed, unsupported, keep=again, pipe=pipe)
        hashes[h] = None
    pipe.execute()
    forget(rt, list(hashes))


def unsupported_delete(rt: Runtime) -> list[str]:
    return [d.name for d in rt.config.enabled_destinations if "delete" not in d.handles]


def record_regulation(rt: Runtime, reg_id: str, kind: str, hashes: list[str], dests: Iterable[str], unsupported: Iterable[str],
                      keep: bool = False, pipe: Pipeline | None = None) -> None:
    """Record a regulation for its status, and as the newest in ns:regs (CLAIM looks a batch's users
    up while that is recent: see ``forget``). ``keep``: a record already there keeps its fields.
    ``pipe``: added to that pipeline, which the caller runs; else run at once."""
    keys = rt.queue.keys
    n = len(hashes)
    record: dict[str, Any] = {"type": kind, "created_at": now_ms(), "subjects": n, "subject_hashes": json.dumps(hashes)}
    for d in dests:
        record[f"{d}:pending"] = n
        record[f"{d}:finished"] = 0
        record[f"{d}:failed"] = 0
    for d in unsupported:
        record[f"{d}:unsupported"] = 1
    own = pipe is None
    if pipe is None:
        pipe = rt.redis.pipeline(transaction=True)
    if keep:
        for name, value in record.items():
            pipe.hsetnx(keys.regulation(reg_id), name, value)
    else:
        # ingest wakes the drainers first: a quick worker may have counted the delete's outcome
        # already (SETTLE, regulation_outcome), and the counts are added to, not set
        counts = [name for name in record if name.endswith((":pending", ":finished", ":failed"))]
        pipe.hset(keys.regulation(reg_id), mapping={k: v for k, v in record.items() if k not in counts})
        for name in counts:
            pipe.hincrby(keys.regulation(reg_id), name, record[name])
    pipe.expire(keys.regulation(reg_id), REGULATION_TTL)
    pipe.zadd(keys.regulations, {reg_id: record["created_at"]})
    if own:
        pipe.execute()


def regulation_outcome(reg_id: str, outcome: Any, redact: Redactor) -> tuple[str, str, str]:
    """How one delete event's outcome at a destination counts on its regulation: SETTLE applies it
    in the same step that settles the event, so a worker dying in between can't leave it pending.
    (regulation id, 'finished' / 'failed' / 'last_error' for a retry, the reason, redacted)."""
    from destinations.base import OutcomeStatus

    if outcome.status in (OutcomeStatus.DELIVERED, OutcomeStatus.SKIPPED):
        return reg_id, "finished", ""
    if outcome.status is OutcomeStatus.REJECTED:
        return reg_id, "failed", redact.text(outcome.reason)
    return reg_id, "last_error", redact.text(outcome.reason)


def regulation_status(rt: Runtime, reg_id: str) -> dict[str, Any] | None:
    raw = {k.decode(): v.decode() for k, v in rt.redis.hgetall(rt.queue.keys.regulation(reg_id)).items()}
    if "type" not in raw:  # none, or only a worker's counts: SETTLE may count a delete before it is recorded
        return None
    per: dict[str, dict[str, Any]] = {}
    for key, value in raw.items():
        if ":" in key:
            dest, field = key.rsplit(":", 1)
            per.setdefault(dest, {})[field] = int(value) if field in ("pending", "finished", "failed") else value
    destinations = {}
    for dest, f in sorted(per.items()):
        if "unsupported" in f:
            destinations[dest] = {"status": "not_supported"}
            continue
        counts = {n: f.get(n, 0) for n in ("finished", "failed", "pending")}  # a retry's last_error may come first
        status = "pending" if counts["pending"] > 0 else ("failed" if counts["failed"] else "finished")
        entry = {"status": status, **counts}
        if "reason" in f:
            entry["reason"] = f["reason"]
        if "last_error" in f and status == "pending":
            entry["last_error"] = f["last_error"]
        destinations[dest] = entry
    states = {d["status"] for d in destinations.values()} - {"not_supported"}
    overall = "pending" if "pending" in states else ("failed" if "failed" in states else "finished")
    return {
        "regulateId": reg_id,
        "regulationType": raw["type"],
        "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(raw["created_at"]) / 1000)),
        "subjects": int(raw["subjects"]),
        "status": overall,
        "destinations": destinations,
    }


def list_regulations(rt: Runtime, limit: int = 100) -> list[dict[str, Any]]:
    ids = [i.decode() for i in rt.redis.zrevrange(rt.queue.keys.regulations, 0, limit - 1)]
    return [s for s in (regulation_status(rt, i) for i in ids) if s]


# HTTP ----------------------------------------------------------------------------------
def _runtime() -> Runtime:
    return current_app.extensions["eventrouter.runtime"]


@bp.post("/v1/regulations")
@admin_only
def create() -> tuple[Response, int]:
    try:
        data = RegulationSchema().load(json_object(request.get_data(cache=True)))
    except ValidationError as exc:
        return jsonify({"success": False, "errors": error_list(exc.messages)}), 400
    reg_id = regulate(_runtime(), data["regulationType"], data["subjectIds"])
    return jsonify({"regulateId": reg_id}), 200


@bp.get("/v1/regulations")
@admin_only
def index() -> Response:
    return jsonify({"regulations": list_regulations(_runtime(), page_size(100))})


@bp.get("/v1/regulations/<reg_id>")
@admin_only
def show(reg_id: str) -> tuple[Response, int]:
    status = regulation_status(_runtime(), reg_id)
    if status is None:
        return jsonify({"success": False, "errors": [{"path": "regulateId", "message": "no such regulation"}]}), 404
    return jsonify(status), 200
