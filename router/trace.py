"""Event trace: what happened to one event, found by messageId or userId.

    ns:trace:<messageId> string the event's trace entries (compact JSON, which holds no raw newline),
                                newline-separated, oldest first; expires after dedup_ttl. One write
                                begins it (SET NX PX) and APPEND adds to it.
    ns:tr:<messageId>   list    older versions' traces: read until they expire (without the attempts
                                made since). A new key name, so that no version meets the other's
                                type while both run (an older SETTLE's RPUSHX finds no list)
    ns:trring           list    ``:<received ms>:<messageId>`` per trace begun, in that order
                                (older versions rang bare messageIds); past ``trace.max_events`` the
                                oldest traces are deleted, so traces take bounded memory
    ns:tu:<user hash>   zset    messageId -> received ms (+ a fraction: the order inside a request), the
                                user's last USER_TRACES events (user
                                ids are kept only as router/envelopes.py user_hash); one ZADD per user
                                and request; it expires with the user's newest trace

INGEST writes the ``received`` entry (where the event was routed, and why not
elsewhere; accepted / duplicate / suppressed), SETTLE appends one ``attempt``
entry per event and outcome (only to a trace that exists: one already dropped stays dropped),
REPLAY a ``replayed`` entry per dead letter put back.
Both ride on the scripts' existing round trip. Trace entries carry reasons
and times, never the event or the user id.
"""
from __future__ import annotations

import json
import re
from typing import Any, Iterable, Mapping

from destinations.base import Outcome
from router.config import DestinationConfig
from router.queue import now_ms
from router.envelopes import user_hash
from router.redact import Redactor
from router.routing import admits, allowed
from router.runtime import Runtime

#: how many of a user's events the userId search finds
USER_TRACES = 100
#: a ring entry (an older version's ring held bare messageIds)
RING_ENTRY = re.compile(rb"([0-9a-fA-F]*):[0-9]+:(.*)", re.S)
DEFAULT_MAX_EVENTS = 100_000


def not_routed_reason(dest: DestinationConfig, event: Mapping[str, Any]) -> str:
    """Why router/routing.py did not route ``event`` to ``dest`` (its rules, in its order)."""
    kind = event["type"]
    if kind not in dest.handles:
        return f"{dest.type} does not handle {kind} calls"
    if kind != "delete" and kind not in dest.subscribe:
        return f"not subscribed to {kind}"
    if kind == "track" and not admits(dest, event.get("event", "")):
        name = event.get("event", "")
        return f"events.except lists {name!r}" if name in dest.exclude else f"events.only does not list {name!r}"
    integrations = event.get("integrations") or {}
    names = (dest.name, dest.plugin.display_name, dest.plugin.slug, *dest.plugin.aliases)
    if integrations and not allowed(integrations, names):
        named = next((n for n in names if n in integrations), "All")
        return f"integrations[{named!r}] is false"
    return "not routed"


def received_entry(source: str, received_ms: int, routed: list[str], event: Mapping[str, Any],
                   enabled: Iterable[DestinationConfig]) -> str:
    """The ``received`` entry, as a JSON object INGEST completes with the ingest status."""
    skipped = {d.name: not_routed_reason(d, event) for d in enabled if d.name not in routed}
    entry = {"at": received_ms, "kind": "received", "source": source, "type": event.get("type"),
             "event": event.get("event") if event.get("type") == "track" else None, "to": routed, "not": skipped}
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False)


def attempt_entry(dest: str, outcome: Outcome, attempts: int, at_ms: int, redact: Redactor, final: bool) -> str:
    """One attempt at one destination; ``final`` when the event is done there (delivered, dead letter)."""
    entry = {"at": at_ms, "kind": "attempt", "destination": dest, "outcome": outcome.status.value,
             "reason": redact.text(outcome.reason) or "", "status": outcome.http_status, "attempt": attempts,
             "final": final}
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False)


def replayed_entry(dest: str, at_ms: int) -> str:
    """A dead letter at ``dest`` was put back in its buffer: it waits for its next attempt (numbered from 1 again)."""
    return json.dumps({"at": at_ms, "kind": "replayed", "destination": dest}, separators=(",", ":"))


def by_message(rt: Runtime, message_ids: list[str]) -> list[dict[str, Any]]:
    """The traces of the messageIds that have one, in the order given (an older version's list
    entries first: they are the older)."""
    ns = rt.config.namespace
    pipe = rt.redis.pipeline(transaction=False)
    for mid in message_ids:
        pipe.lrange(f"{ns}:tr:{mid}", 0, -1)
        pipe.get(f"{ns}:trace:{mid}")
    stored = pipe.execute()
    out = []
    for mid, older, text in zip(message_ids, stored[0::2], stored[1::2]):
        entries = [*older, *(text.split(b"\n") if text else [])]
        if entries:
            out.append(summary(mid, [json.loads(e) for e in entries]))
    return out


def search(rt: Runtime, *, message_id: str | None = None, user_id: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Traces of one messageId, or of a user's latest ``limit`` events (newest first)."""
    if message_id:
        return by_message(rt, [message_id])
    if user_id:
        return by_message(rt, user_events(rt, user_hash(user_id), min(limit, USER_TRACES)))
    return []


def ring_mid(entry: bytes) -> str:
    """The messageId of a ring entry."""
    m = RING_ENTRY.fullmatch(entry)
    return (m.group(2) if m else entry).decode()


def user_events(rt: Runtime, uhash: str, limit: int) -> list[str]:
    """The messageIds of a user's latest events inside the dedup window (older ones have no trace
    left), newest first."""
    since = now_ms() - int(rt.config.dedup_ttl * 1000)
    mids = rt.redis.zrevrangebyscore(f"{rt.config.namespace}:tu:{uhash}", "+inf", since, start=0, num=limit)
    return [m.decode() for m in mids]


def newest(rt: Runtime, limit: int) -> list[str]:
    """The messageIds of the newest traces begun, newest first."""
    return [ring_mid(e) for e in rt.redis.lrange(f"{rt.config.namespace}:trring", -limit, -1)][::-1]


def summary(mid: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The entries, plus each destination's state now: delivered / dead letter / retrying / waiting."""
    state: dict[str, str] = {}
    for e in entries:
        if e["kind"] == "received" and e.get("status") == "accepted":
            for d in e["to"]:
                state.setdefault(d, "waiting")
        elif e["kind"] == "attempt":
            o = "rejected" if e["outcome"] == "retry" and e.get("final") else e["outcome"]  # a retry_window give-up
            state[e["destination"]] = {"delivered": "delivered", "skipped": "skipped", "rejected": "dead letter"}.get(o, "retrying")
        elif e["kind"] == "replayed":
            state[e["destination"]] = "waiting"
    received = next((e for e in entries if e["kind"] == "received"), None)
    return {"messageId": mid, "received_at": received["at"] if received else None, "destinations": state, "entries": entries}


def forget(rt: Runtime, hashes: list[str]) -> int:
    """GDPR: drop the traces of the users' events (an older version's too) and the users' indexes.
    Returns how many keys were deleted."""
    ns = rt.config.namespace
    pipe = rt.redis.pipeline(transaction=False)
    for h in hashes:
        pipe.zrange(f"{ns}:tu:{h}", 0, -1)
    mids = [m.decode() for found in pipe.execute() for m in found]
    doomed = [f"{ns}:{kind}:{m}" for m in mids for kind in ("trace", "tr")] + [f"{ns}:tu:{h}" for h in hashes]
    pipe = rt.redis.pipeline(transaction=False)
    for k in range(0, len(doomed), 1000):
        pipe.delete(*doomed[k:k + 1000])
    return sum(int(n) for n in pipe.execute())
