"""Envelopes: one event as it waits in Redis, written at ingest and read by the drainer.

An envelope is the JSON ``{"u": user hash, "r": received ms, "id", "a": attempts,
"f": first attempt ms, "l": last error, "e": the event}``; ``u`` and ``r``
come first so scripts can read them without decoding, and ``e`` comes last, after fields that
are numbers or strings only, so a drainer can send the event's JSON without parsing it
(``split``). An anonymous event (no userId)
has ``"o"``, its anonymousId hash, right after ``u``: the ordered scripts read both.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

import orjson

from router.body import loads, long_digits


def user_hash(user_id: Any) -> str:
    """The only form in which the router keeps a user id outside the event itself."""
    if user_id in (None, ""):
        return ""
    return _sha(str(user_id))


@lru_cache(maxsize=4096)  # a client's batch is mostly one user's events
def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def subject_hash(event: dict[str, Any]) -> str:
    """The user hash an event is filed under: none for a delete, so neither suppressing nor
    purging the user can ever drop the delete itself."""
    return "" if event.get("type") == "delete" else user_hash(event.get("userId"))


def _envelope(event: dict[str, Any], event_id: str, received_ms: int, regulation: str, uhash: str | None) -> dict[str, Any]:
    """The envelope's fields, in the order the scripts read them. ``uhash``: the event's subject_hash,
    when the caller has it already. A delete carries its regulation id (``g``) for status tracking.
    An event with an anonymousId and no userId carries ``o``, the key its user's events are ordered
    by (``ordering: per_user``), right after ``u``."""
    u = subject_hash(event) if uhash is None else uhash
    env: dict[str, Any] = {"u": u}
    if not u and event.get("anonymousId") not in (None, "") and event.get("type") != "delete":
        env["o"] = user_hash("anon:" + str(event["anonymousId"]))
    env.update(r=received_ms, id=event_id, a=0, f=0)
    if event.get("type") == "delete":
        env["g"] = regulation
    env["e"] = event  # last: scripts read "u" at the front without decoding
    return env


def envelope(event: dict[str, Any], event_id: str, received_ms: int, regulation: str = "", uhash: str | None = None) -> str:
    """One event as it waits in Redis (JSON text)."""
    return json.dumps(_envelope(event, event_id, received_ms, regulation, uhash), separators=(",", ":"), ensure_ascii=False)


def envelope_bytes(event: dict[str, Any], event_id: str, received_ms: int, regulation: str = "", uhash: str | None = None) -> bytes:
    """``envelope`` as UTF-8, written by orjson (ingest's hot path). For an event that holds no
    NaN/Infinity (orjson would write null): ingest has checked that. Integers beyond 64 bits and
    nesting past orjson's limit are written by ``json``, as ``envelope`` does."""
    env = _envelope(event, event_id, received_ms, regulation, uhash)
    try:
        # a copy of the exact size: orjson's result keeps a buffer of at least 4 KB, and a
        # request holds one envelope per event until it is stored (bench/rss.py: -4 to -10 MB per web process)
        return bytes(memoryview(orjson.dumps(env)))
    except orjson.JSONEncodeError:
        return json.dumps(env, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def decode_batch(items: list[bytes]) -> list[dict[str, Any]]:
    """A batch's envelopes, parsed as one JSON array by orjson: the same values as ``loads`` of each
    (the commas between them split digit runs), for less. A batch with an envelope orjson should
    not read (a long digit run, which an id may hold too) is parsed one envelope at a time."""
    if not items:
        return []
    joined = b"[" + b",".join(items) + b"]"
    if not long_digits(joined):
        try:
            return orjson.loads(joined)
        except orjson.JSONDecodeError:
            pass
    return [loads(raw) for raw in items]


def split(raw: bytes) -> tuple[dict[str, Any], bytes] | None:
    """An envelope's fields but its event, and the event's JSON text as stored; None when the
    envelope is not plainly laid out (then it is parsed whole).

    The event comes last (router/queue.py): every field before it is a number or a string, and
    a JSON string holds no bare quote, so the first ``,"e":`` is the event's key. An envelope that
    has a field after its event (an older retry's ``"l"``, a string) does not end in ``}}``."""
    k = raw.find(b',"e":{')
    if k < 0 or not raw.startswith(b'{"u":') or not raw.endswith(b"}}"):
        return None
    head = raw[:k] + b"}"
    if long_digits(head):
        return None
    try:
        fields = orjson.loads(head)  # a cut inside a nested value would leave it unclosed: refused
    except orjson.JSONDecodeError:
        return None
    return fields, raw[k + 5:-1]
