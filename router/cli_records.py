"""The operator's commands over what Redis holds: ``replay``, ``dead-letters``, ``retrying``, ``stats``,
``regulations`` and ``trace``; people get ISO times and labelled fields, scripts ``--json``."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

import click

from router.cli_loading import fail, known_destination, load_checked_config, load_runtime
from router.config_fields import parse_duration
from router.records import dead_letter, destination_counts, iso_ms, with_iso_times
from router.redact import Redactor


def _since_ms(since: str | None) -> int:
    """``--since``: an ISO date-time (UTC unless it says otherwise, as every time shown), or a
    duration ago (``2h``, ``7d``); never before the epoch (a stream id can't be negative)."""
    if not since:
        return 0
    try:
        return max(0, int((time.time() - parse_duration(since)) * 1000))
    except ValueError:
        pass
    try:
        at = datetime.fromisoformat(since)
    except ValueError:
        fail(f"--since takes an ISO date-time or a duration like 2h: {since!r}", 2)
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return max(0, int(at.timestamp() * 1000))


@click.command("replay")
@click.argument("destination")
@click.option("--since", default=None, help="only dead letters since an ISO date-time or a duration ago (2h)")
def replay_cmd(destination: str, since: str | None) -> None:
    """Re-queue a destination's dead letters."""
    from router.replay import replay

    cfg = load_checked_config()
    known_destination(cfg, destination)
    n = replay(load_runtime(cfg), destination, since_ms=_since_ms(since))
    click.echo(f"{destination}: {n} dead letters re-queued")


#: ``--limit``: at least one (Redis reads 0 or less as "everything", or refuses it)
LIMIT = click.IntRange(min=1)
JSON_HELP = "JSON lines, times in epoch milliseconds (for scripts)"


def redacted(redactor: Redactor, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records with every configured secret redacted as the operator API's answers are (router/app.py
    ``redacted``): also records stored before the secret was configured."""
    return [redactor.value(rec) for rec in records]


def show_records(records: list[dict[str, Any]], as_json: bool, fields: list[tuple[str, str]], empty: str) -> None:
    """Records for people (ISO 8601 times, one labelled field a line) or, with --json, for scripts."""
    if as_json:
        for rec in records:
            click.echo(json.dumps(rec, ensure_ascii=False))
        return
    if not records:
        click.echo(empty)
    for rec in map(with_iso_times, records):
        click.echo("")
        width = max(len(label) for _, label in fields)
        for key, label in fields:
            value = rec.get(key)
            if value is None or value == "":
                continue
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            click.echo(f"{label + ':':<{width + 1}} {text}")


@click.command("dead-letters")
@click.argument("destination")
@click.option("--limit", default=20, show_default=True, type=LIMIT)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def dead_letters_cmd(destination: str, limit: int, as_json: bool) -> None:
    """Show a destination's newest dead letters (secrets redacted)."""
    cfg = load_checked_config()
    known_destination(cfg, destination)
    rt = load_runtime(cfg)
    found = redacted(rt.redactor, [dead_letter(eid, rec) for eid, rec in rt.queue.dead_letters(destination, count=limit, newest_first=True)])
    show_records(found, as_json, [
        ("entry_id", "dead letter"), ("failed_at", "failed at"), ("reason", "reason"), ("status", "HTTP status"),
        ("attempts", "attempts"), ("first_attempt_at", "first attempt"), ("received_at", "received at"),
        ("response", "vendor answer"), ("event", "event"), ("payload", "sent"),
    ], f"{destination}: no dead letters")


@click.command()
@click.argument("destination")
@click.option("--limit", default=20, show_default=True, type=LIMIT)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def retrying(destination: str, limit: int, as_json: bool) -> None:
    """Show events waiting to be retried, soonest first, with their last error."""
    cfg = load_checked_config()
    known_destination(cfg, destination)
    rt = load_runtime(cfg)
    found = redacted(rt.redactor, rt.queue.retrying(destination, limit))
    show_records(found, as_json, [
        ("id", "event id"), ("next_attempt_at", "next attempt"), ("attempts", "attempts"),
        ("first_attempt_at", "first attempt"), ("last_error", "last error"), ("event", "event"),
    ], f"{destination}: nothing waiting for a retry")


STATS_COLUMNS = [("buffered", "BUFFERED"), ("inflight_batches", "IN FLIGHT"), ("retrying", "RETRYING"),
                 ("delivered", "DELIVERED"), ("skipped", "SKIPPED"), ("retried", "RETRIED"),
                 ("dead_letters", "DEAD LETTERS")]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="one JSON document, as GET /v1/admin/destinations answers")
def stats(as_json: bool) -> None:
    """Ingest counts, and per destination its state, queue depth and delivery counters."""
    from router.admin import ingest_counts

    rt = load_runtime()
    ingest = ingest_counts(rt)
    dests = [{"name": d.name, "type": d.type, "enabled": d.enabled, **destination_counts(rt.queue.depth(d.name))}
             for d in rt.config.destinations]
    if as_json:
        click.echo(json.dumps({"ingest": ingest, "destinations": dests}))
        return
    click.echo("ingest: " + ", ".join(f"{v} {k}" for k, v in ingest.items()))
    rows = [["DESTINATION", "TYPE", "STATE"] + [label for _, label in STATS_COLUMNS]]
    now = time.time() * 1000
    for d in dests:
        state = "enabled" if d["enabled"] else "disabled"
        if d.get("breaker_open_until", 0) > now:  # why nothing goes out: the vendor did not answer
            state += f", breaker open until {iso_ms(d['breaker_open_until'])}"
        if d.get("ordered_users"):  # ordering: per_user: users with an event in flight, retrying or held
            state += f", {d['ordered_users']} users waiting in order"
        rows.append([d["name"], d["type"], state] + [str(d.get(key, 0)) for key, _ in STATS_COLUMNS])
    if len(rows) == 1:
        click.echo("no destinations configured")
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        cells = [c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        click.echo("  ".join(cells).rstrip())


@click.command()
@click.option("--limit", default=50, show_default=True, type=LIMIT)
@click.option("--json", "as_json", is_flag=True, help="JSON lines (for scripts)")
def regulations(limit: int, as_json: bool) -> None:
    """GDPR regulations, newest first, with their status per destination."""
    from router.regulations import list_regulations

    found = list_regulations(load_runtime(), limit)
    if as_json:
        for reg in found:
            click.echo(json.dumps(reg))
        return
    if not found:
        click.echo("no regulations")
    for reg in found:
        per = ", ".join(f"{name} {d['status']}" for name, d in reg["destinations"].items()) or "no destination"
        click.echo(f"{reg['createdAt']}  {reg['regulateId']}  {reg['regulationType']}  {reg['subjects']} subjects  "
                   f"{reg['status']}: {per}")


@click.command("trace")
@click.option("--message-id", default=None, help="the event's messageId")
@click.option("--user-id", default=None, help="the user's latest events (newest first)")
@click.option("--limit", default=20, show_default=True, type=LIMIT)
def trace_cmd(message_id: str | None, user_id: str | None, limit: int) -> None:
    """What happened to an event: received when, routed where and why (not), each attempt (JSON lines)."""
    from router.trace import search

    if not (message_id or user_id):
        fail("give --message-id or --user-id", 2)
    rt = load_runtime()
    found = redacted(rt.redactor, search(rt, message_id=message_id, user_id=user_id, limit=limit))
    if not found:
        fail("no trace found (traces are kept for dedup_ttl, the newest trace.max_events events)", 1)
    for t in found:
        click.echo(json.dumps(t, ensure_ascii=False))
