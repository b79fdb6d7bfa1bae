"""Operator API the dashboard needs beyond router/admin.py: charts, errors by reason,
dead-letter search and discard, a dead letter's request, recent events. Admin token or session."""
from __future__ import annotations

import json
import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from router.admin import admin_only, ingest_counts, page_size
from router.body import BadRequest, json_object
from router.queue import now_ms
from router.records import EXCHANGE_KEYS, destination_counts, stream_id
from router.runtime import Runtime
from router.tester import CaptureAdapter, Scrubber, exchange_report, sessions
from router.timeseries import Series, add_up, minute_of
from router.trace import by_message, newest

bp = Blueprint("dashboard_api", __name__)

#: range -> (minutes shown, minutes per point)
RANGES = {"hour": (60, 1), "day": (1440, 15), "week": (10080, 60)}
#: how many of the newest dead letters the error table and the search read
SCAN = 5000
_GAVE_UP = re.compile(r"^gave up after \d+ attempts over \d+s: ")
#: what Redis takes as a stream id's parts (unsigned 64-bit); times are kept below the signed limit
_MAX_MS = 2**63 - 1


def runtime() -> Runtime:
    return current_app.extensions["eventrouter.runtime"]


def _destination(name: str) -> str:
    try:
        runtime().config.destination(name)
    except KeyError as exc:
        raise BadRequest(404, str(exc.args[0])) from None
    return name


@bp.get("/v1/admin/overview")
@admin_only
def overview() -> Response:
    """Per destination: delivered / failed (dead-lettered) / retried per point over the range, p50/p95/p99."""
    rt = runtime()
    span, step = RANGES.get(request.args.get("range", "hour"), RANGES["hour"])
    last = minute_of(now_ms())
    first = last - span + 1
    series = Series(rt.redis, rt.config.namespace)
    out = []
    for d in rt.config.destinations:
        minutes = series.destination_minutes(d.name, first, last)
        points = {"t": [], "delivered": [], "failed": [], "retrying": []}
        for start in range(0, span, step):
            chunk = add_up(minutes[start : start + step]).counts
            points["t"].append((first + start) * 60)
            points["delivered"].append(chunk.get("delivered", 0))
            points["failed"].append(chunk.get("rejected", 0))
            points["retrying"].append(chunk.get("retried", 0))
        window = add_up(minutes)
        out.append({
            "name": d.name, "type": d.type, "enabled": d.enabled, **destination_counts(rt.queue.depth(d.name)),
            "window": {k: window.counts.get(v, 0) for k, v in
                       (("delivered", "delivered"), ("failed", "rejected"), ("retrying", "retried"), ("skipped", "skipped"))},
            "latency_ms": {f"p{int(q * 100)}": _round(window.quantile(q)) for q in (0.5, 0.95, 0.99)},
            "points": points,
        })
    return jsonify({"range": request.args.get("range", "hour") if request.args.get("range") in RANGES else "hour",
                    "step_seconds": step * 60, "ingest": ingest_counts(rt), "destinations": out})


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def reason_group(reason: str) -> str:
    """Dead-letter reasons grouped: give-ups by their last error, not by their attempt counts."""
    return _GAVE_UP.sub("gave up: ", reason or "")


@bp.get("/v1/admin/errors/<name>")
@admin_only
def errors(name: str) -> Response:
    """The newest dead letters grouped by reason: count, last seen, a sample entry."""
    rt = runtime()
    groups: dict[str, dict[str, Any]] = {}
    newest, complete = newest_dead(rt, _destination(name))
    for eid, rec in newest:
        g = groups.setdefault(reason_group(rec.get("reason", "")), {"count": 0, "last_seen": rec.get("failed_at"),
                                                                    "status": rec.get("status"), "sample": eid})
        g["count"] += 1
    table = [{"reason": r, **g} for r, g in sorted(groups.items(), key=lambda kv: -kv[1]["count"])]
    return jsonify({"destination": name, "errors": table, "read": len(newest), "complete": complete})


def newest_dead(rt: Runtime, name: str, since: int = 0, until: int | None = None,
                before: str = "") -> tuple[list[tuple[str, dict[str, Any]]], bool]:
    """The SCAN newest dead letters of the time range (older than the entry ``before``), and whether they
    are all of them (counts over them are exact, else a lower bound: one more is read to know)."""
    # the time range goes to Redis: newer entries than ``until`` must not use up the SCAN newest read
    read = rt.queue.dead_letters(name, since_ms=since, until_ms=until, count=SCAN + 1, newest_first=True, before=before)
    return read[:SCAN], len(read) <= SCAN


def matching(rt: Runtime, name: str, reason: str | None, since: int, until: int | None,
             before: str = "") -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]], bool]:
    """The matches among the SCAN newest dead letters of the time range (older than ``before``), the
    dead letters read, and whether that was all of them."""
    newest, complete = newest_dead(rt, name, since, until, before)
    found = [(eid, rec) for eid, rec in newest if not reason or reason_group(rec.get("reason", "")) == reason]
    return found, newest, complete


def discard_matching(rt: Runtime, name: str, reason: str | None, since: int, until: int | None) -> int:
    """Discard every match, SCAN dead letters read at a time: "all matching" is all, not the newest SCAN."""
    discarded, before = 0, ""
    while True:
        page = rt.queue.dead_letters(name, since_ms=since, until_ms=until, count=SCAN, newest_first=True, before=before)
        if not page:
            return discarded
        discarded += rt.queue.delete_dead(name, [eid for eid, rec in page
                                                 if not reason or reason_group(rec.get("reason", "")) == reason])
        before = page[-1][0]


def _int_arg(value: Any, what: str) -> int | None:
    """A time filter: whole milliseconds since the epoch (a JSON integer or a query string of digits)."""
    if value is None or value == "":
        return None
    ms: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        ms = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value.lstrip("0")) <= len(str(_MAX_MS)):
        ms = int(value)  # the length first: int() refuses text of more than 4300 digits (a 500)
    if ms is None or not 0 <= ms <= _MAX_MS:
        raise BadRequest(400, f"{what} must be whole milliseconds since the epoch", what)
    return ms


def _reason(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise BadRequest(400, "reason must be a string (a reason group of /errors)", "reason")


@bp.get("/v1/admin/dead-letters/<name>/search")
@admin_only
def search_dead(name: str) -> Response:
    """Dead letters filtered by ``reason`` (a group of /errors) and ``since_ms`` / ``until_ms``, newest first."""
    rt = runtime()
    before = request.args.get("before") or ""
    if before and stream_id(before) is None:
        raise BadRequest(400, f"not a dead letter's entry id: {before[:60]!r} (they look like 1700000000000-0)", "before")
    found, read, complete = matching(rt, _destination(name), request.args.get("reason"), _int_arg(
        request.args.get("since_ms"), "since_ms") or 0, _int_arg(request.args.get("until_ms"), "until_ms"), before)
    limit = page_size(100)
    # ``total`` counts the matches among the ``read`` newest; not ``complete``: there may be more, older than ``next``
    return jsonify({"destination": name, "total": len(found), "read": len(read), "complete": complete,
                    "next": None if complete or not read else read[-1][0],
                    "dead_letters": [{"entry_id": eid, **{k: v for k, v in rec.items() if k not in EXCHANGE_KEYS},
                                      "request_stored": bool(rec.get("exchanges"))} for eid, rec in found[:limit]]})


@bp.post("/v1/admin/dead-letters/<name>/discard")
@admin_only
def discard(name: str) -> Response:
    """``{"entry_ids": [...]}``, or ``{"all": true}`` with the search's ``reason`` / ``since_ms`` / ``until_ms``."""
    rt = runtime()
    body = json_object(request.get_data(cache=True))
    _destination(name)
    if isinstance(body.get("entry_ids"), list):
        ids = [stream_id(i) for i in body["entry_ids"]]
        if None in ids:
            bad = body["entry_ids"][ids.index(None)]
            raise BadRequest(400, f"not a dead letter's entry id: {str(bad)[:60]!r} (they look like 1700000000000-0)",
                             "entry_ids")
    elif body.get("all") is True:
        return jsonify({"success": True, "discarded": discard_matching(
            rt, name, _reason(body.get("reason")), _int_arg(body.get("since_ms"), "since_ms") or 0,
            _int_arg(body.get("until_ms"), "until_ms"))})
    else:
        raise BadRequest(400, 'send {"entry_ids": [...]} or {"all": true} (with reason / since_ms / until_ms)')
    return jsonify({"success": True, "discarded": rt.queue.delete_dead(name, ids)})


@bp.get("/v1/admin/dead-letters/<name>/<entry_id>")
@admin_only
def dead_letter_detail(name: str, entry_id: str) -> Response:
    """One dead letter side by side: what the client sent, the request(s) the router made for it and
    the vendor's answer, as stored with the dead letter (secrets redacted). Dead letters stored before
    exchanges were kept get their request rebuilt now by the mapper and client, nothing sent."""
    rt = runtime()
    dc = rt.config.destination(_destination(name))
    entries = rt.redis.xrange(rt.queue.keys.dead(name), entry_id, entry_id) if stream_id(entry_id) else []
    if not entries:
        raise BadRequest(404, f"no dead letter {entry_id} at {name}")
    rec = json.loads(entries[0][1][b"d"])
    head = {"entry_id": entry_id, "destination": name, "reason": rec.get("reason"), "attempts": rec.get("attempts"),
            "failed_at": rec.get("failed_at"), "sent": rec.get("event"), "payload": rec.get("payload")}
    if rec.get("exchanges"):
        last = next((x["response"] for x in reversed(rec["exchanges"]) if x.get("response")), None)
        note = "as sent at the last attempt"
        if rec.get("exchanges_left_out"):
            note += f" ({rec['exchanges_left_out']} earlier requests of that attempt left out: size bound)"
        return jsonify({**head, "requests": rec["exchanges"], "request_note": note, "request_stored": True,
                        "response": last or {"status": rec.get("status"), "headers": {}, "body": rec.get("response")}})
    return jsonify({**head, **rebuilt(dc, rec)})


def rebuilt(dc: Any, rec: dict[str, Any]) -> dict[str, Any]:
    """For a dead letter kept without its exchanges: the request rebuilt from its event, nothing sent."""
    scrub = Scrubber(dc.secrets)
    plugin = dc.plugin(dc.settings)
    adapter = CaptureAdapter(passthrough=False)
    for s in sessions(plugin):
        s.mount("http://", adapter)
        s.mount("https://", adapter)
    note = "rebuilt from the stored event with the current settings; nothing was sent"
    try:
        from destinations.base import Prepared
        from router.routing import renamed

        from router.transforms import stage

        # the destination's filters and transform first, as the worker does
        staged = stage(rec["event"], dc.filters, dc.transform, dc.transform_name)
        if staged.outcome is not None:
            raise ValueError(staged.outcome.reason)
        events = [renamed(e, dc.rename) for e in staged.events]
        plugin.send([Prepared(e, plugin.map(e)) for e in events])
    except Exception as exc:  # the mapping may refuse it (that is often why it is here): say so
        note = f"the request could not be rebuilt: {type(exc).__name__}: {scrub.text(str(exc))}"
    finally:
        for s in sessions(plugin):
            s.close()
    return {"requests": [exchange_report(req, None, scrub) for req, _ in adapter.exchanges], "request_note": note,
            "request_stored": False, "response": {"status": rec.get("status"), "headers": {}, "body": rec.get("response")}}


@bp.get("/v1/admin/deliveries/<name>")
@admin_only
def deliveries(name: str) -> Response:
    """The most recent delivered exchanges (one per batch, ``metrics: {samples: N}`` kept), newest first."""
    rt = runtime()
    limit = page_size(20)
    raw = rt.redis.lrange(rt.queue.keys.sample(_destination(name)), 0, limit - 1)
    return jsonify({"destination": name, "deliveries": [json.loads(r) for r in raw]})


@bp.get("/v1/admin/live")
@admin_only
def live() -> Response:
    """The most recent events in and out: the newest traces (router/trace.py), newest first."""
    rt = runtime()
    limit = page_size(50)
    return jsonify({"events": by_message(rt, newest(rt, limit))})
