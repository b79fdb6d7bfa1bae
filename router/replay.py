"""Re-queue dead letters after the cause is fixed."""
from __future__ import annotations

import json

from router.queue import now_ms
from router.runtime import Runtime
from router.trace import replayed_entry

CHUNK = 500


def replay(rt: Runtime, dest: str, *, since_ms: int = 0, ids: list[str] | None = None) -> int:
    """Put a destination's dead letters (all since ``since_ms``, or the given entry ids) back in its buffer.

    Each event starts over with a fresh attempt count. An entry leaves the dead letters and its
    event enters the buffer in one script (DeliveryQueue.replay_dead): replays running at once,
    or a discard, never double or lose an event. Returns how many this call put back. Only the
    dead letters there when it starts: those its own events become meanwhile are not replayed again.
    """
    rt.config.destination(dest)
    total = 0
    wanted = set(ids) if ids else None
    cursor = f"{since_ms}-0"
    newest = rt.redis.xrevrange(rt.queue.keys.dead(dest), count=1)
    if not newest:
        return 0
    end = newest[0][0]
    while True:
        entries = rt.redis.xrange(rt.queue.keys.dead(dest), cursor, end, count=CHUNK)
        if not entries:
            return total
        chosen: list[tuple[str, str, str]] = []
        for eid, fields in entries:
            eid = eid.decode()
            if wanted is not None and eid not in wanted:
                continue
            rec = json.loads(fields[b"d"])
            chosen.append((eid, rec["id"], json.dumps(
                {"u": rec.get("u", ""), "r": rec.get("r", 0), "id": rec["id"], "a": 0, "f": 0, "e": rec["event"]},
                separators=(",", ":"), ensure_ascii=False,
            )))
        if chosen:
            n, token = rt.queue.replay_dead(dest, chosen, replayed_entry(dest, now_ms()))
            rt.wake([(dest, token)])
            total += n
        last = entries[-1][0].decode()
        ms, seq = last.split("-")
        cursor = f"{ms}-{int(seq) + 1}"
