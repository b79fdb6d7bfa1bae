"""Re-queue dead letters after the cause is fixed."""
from __future__ import annotations

import json
from typing import Any, Iterator

from router.envelopes import envelope
from router.queue import now_ms
from router.runtime import Runtime
from router.trace import replayed_entry

CHUNK = 500


def replay(rt: Runtime, dest: str, *, since_ms: int = 0, ids: list[str] | None = None) -> int:
    """Put a destination's dead letters (all since ``since_ms``, or the given entry ids) back in its
    buffer; how many this call put back (``replayed_entries``)."""
    return len(replayed_entries(rt, dest, since_ms=since_ms, ids=ids))


def replayed_entries(rt: Runtime, dest: str, *, since_ms: int = 0, ids: list[str] | None = None) -> list[str]:
    """``replay``, answering the entry ids this call put back (a chosen id not among them was not there).

    Each event starts over with a fresh attempt count. An entry leaves the dead letters and its
    event enters the buffer in one script (DeliveryQueue.replay_dead): replays running at once,
    or a discard, never double or lose an event. Only the dead letters there when it starts:
    those its own events become meanwhile are not replayed again.
    """
    rt.config.destination(dest)
    moved: list[str] = []
    for entries in (_chosen(rt, dest, ids) if ids else _since(rt, dest, since_ms)):
        chosen = [(eid.decode(), *_envelope(json.loads(fields[b"d"]))) for eid, fields in entries]
        if chosen:
            done, token = rt.queue.replay_dead(dest, chosen, replayed_entry(dest, now_ms()))
            rt.wake([(dest, token)])
            moved += done
    return moved


def _envelope(rec: dict[str, Any]) -> tuple[str, str, str]:
    """A dead letter's messageId, regulation id (a GDPR delete's, else '') and its event's envelope as
    ingest wrote it (with ``o``, the ordering key of an anonymous event), with a fresh attempt count."""
    reg = rec.get("regulation", "")
    return rec["id"], reg, envelope(rec["event"], rec["id"], rec.get("r", 0), reg, uhash=rec.get("u", ""))


def _chosen(rt: Runtime, dest: str, ids: list[str]) -> Iterator[list[Any]]:
    """The chosen entries that are there, CHUNK at a time, each read by its id (not a scan of them all)."""
    key, unique = rt.queue.keys.dead(dest), list(dict.fromkeys(ids))
    for k in range(0, len(unique), CHUNK):
        pipe = rt.redis.pipeline(transaction=False)
        for eid in unique[k:k + CHUNK]:
            pipe.xrange(key, eid, eid)
        yield [found[0] for found in pipe.execute() if found]


def _since(rt: Runtime, dest: str, since_ms: int) -> Iterator[list[Any]]:
    """The entries since ``since_ms`` up to the newest when the replay starts, CHUNK at a time."""
    key = rt.queue.keys.dead(dest)
    newest = rt.redis.xrevrange(key, count=1)
    if not newest:
        return
    cursor, end = f"{since_ms}-0", newest[0][0]
    while True:
        entries = rt.redis.xrange(key, cursor, end, count=CHUNK)
        if not entries:
            return
        yield entries
        cursor = "(" + entries[-1][0].decode()
