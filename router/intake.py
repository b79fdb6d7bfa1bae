"""From raw JSON events to envelopes in destination buffers: validate, enrich,
route, and store, in one Redis round trip per request (two when some events
were rejected and must be kept for the operator)."""
from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence

from marshmallow import ValidationError

from router.body import MAX_DEPTH, encodable, problems, size
from router.config import SourceConfig
from router.queue import NotReplicated, now_ms
from router.envelopes import envelope_bytes, subject_hash, user_hash
from router.runtime import Runtime
from router.schemas import SHORT_TIMESTAMP, error_list, load_common, load_event
from router.timeseries import count_rejected
from router.trace import received_entry

log = logging.getLogger(__name__)

MAX_EVENT_BYTES = 32 * 1024
MAX_REQUEST_BYTES = 500 * 1024
MAX_BATCH_EVENTS = 2500
_TIME_FIELDS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")
#: how much longer an event's JSON can be than its envelope's: its four time fields, each a string
#: of at most SHORT_TIMESTAMP characters (load_common), written with at most 6 bytes a character
#: (``\u001f``) and 2 quotes, become shorter ISO strings
_SIZE_SLACK = len(_TIME_FIELDS) * (6 * SHORT_TIMESTAMP + 2)
#: at most this many ways of routing an event have their ``received`` trace entry kept between requests,
#: each only when its key (event name and integrations are the client's) is at most _TRACE_KEY_BYTES
_TRACE_TAILS = 1024
_TRACE_KEY_BYTES = 512


@dataclass
class IntakeResult:
    accepted: int = 0
    duplicates: int = 0
    suppressed: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[dict[str, Any]] = field(default_factory=list)
    #: duplicates of delete events: their users are forgotten again (see ``Intake.accept``)
    deletes_again: list[dict[str, Any]] = field(default_factory=list)

    def as_batch_answer(self) -> dict[str, Any]:
        return {
            "success": True,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "suppressed": self.suppressed,
            "rejected": self.rejected,
        }


@lru_cache(maxsize=1024)  # a batch's events share sentAt, often timestamps too
def iso(dt: datetime) -> str:
    """``2024-05-01T12:00:00.000Z``; four-digit years also below 1000 (strftime's %Y drops the zeros)."""
    return _iso(dt)


def _iso(dt: datetime) -> str:
    """``iso`` uncached, for a time seen once (when a request was received)."""
    dt = dt.astimezone(timezone.utc)
    return (f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
            f".{dt.microsecond // 1000:03d}Z")


class Rejection(Exception):
    """One event can't be accepted; ``errors`` say why (``[{"path", "message"}]``)."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__(errors[0]["message"] if errors else "rejected")
        self.errors = errors


def without_write_key(raw: Any) -> Any:
    """Some clients put the write key in every event: it is a credential, never stored or forwarded."""
    if isinstance(raw, dict) and "writeKey" in raw:
        return {k: v for k, v in raw.items() if k != "writeKey"}
    return raw


#: what processing one event can raise on input nobody foresaw; it becomes that event's rejection
#: (and a logged warning), never the request's 500. Storage errors (redis.RedisError) are not among them.
_EVENT_FAULTS = (ValueError, TypeError, KeyError, OverflowError, RecursionError)


#: (runtime, delete events, again=False): ``again`` for duplicates of deletes stored before
DeleteHook = Callable[..., None]


class Intake:
    def __init__(self, rt: Runtime, on_delete: DeleteHook | None = None) -> None:
        self.rt = rt
        #: called with the accepted delete events once they are queued (GDPR: the router forgets the user)
        self.on_delete = on_delete
        #: observe: ``received`` trace entries by how events were routed (see ``_trace_entry``)
        self._trace_tails: dict[tuple[Any, ...], str] = {}

    def accept(
        self,
        source: SourceConfig,
        raw_events: Sequence[Any],
        *,
        batch_context: Mapping[str, Any] | None = None,
        batch_integrations: Mapping[str, Any] | None = None,
        sent_at: Any = None,
        check_sizes: bool = True,
        refuse: Mapping[int, str] | None = None,
        strict: bool = False,
    ) -> IntakeResult:
        """Validate, enrich, route and store ``raw_events``; each problem is that event's rejection
        (by index), kept in the rejections stream. ``refuse``: indexes rejected up front, with the reason.
        ``strict``: the events (and batch context) hold no NaN and no lone surrogate (body.parse_strict)."""
        result = IntakeResult()
        received = datetime.now(timezone.utc)
        received_ms = int(received.timestamp() * 1000)
        received_iso = _iso(received)
        items: list[tuple[bytes, str, list[str], bytes]] = []
        rejected_records: list[str] = []
        accepted_events: list[dict[str, Any]] = []
        traces: list[str] | None = [] if self.rt.queue.trace_cap else None  # observe: router/trace.py
        trace_cache: dict[tuple[Any, ...], str] = {}
        for index, raw in enumerate(raw_events):
            raw = without_write_key(raw)
            try:
                if refuse and index in refuse:
                    raise Rejection([{"path": "", "message": refuse[index]}])
                raw, event, item = self._prepare(raw, check_sizes, batch_context, batch_integrations, sent_at,
                                                 received, received_ms, received_iso, strict)
                trace = None if traces is None else self._trace_entry(source.name, received_ms, item[2], event, trace_cache)
            except Rejection as exc:
                errors = exc.errors
            except _EVENT_FAULTS as exc:
                log.warning("event %d from %s could not be processed", index, source.name, exc_info=True)
                errors = [{"path": "", "message": f"event could not be processed ({type(exc).__name__})"}]
            else:
                items.append(item)
                accepted_events.append(event)
                if traces is not None:
                    traces.append(trace)
                continue
            result.rejected.append({"index": index, "errors": errors})
            rejected_records.append(self._rejected_record(source, raw, errors, received_ms))
        if rejected_records:
            self._keep_rejected(rejected_records, source.name)
        if items:
            cfg = self.rt.config
            wait_ms = int(cfg.replica_wait * 1000) if cfg.durability == "replicated" else 0
            late: NotReplicated | None = None
            try:
                statuses, wakes = self.rt.queue.ingest(source.name, items, cfg.dedup_ttl, traces, replica_wait_ms=wait_ms)
            except NotReplicated as exc:
                # stored on the master, not yet on a replica: the answer is 503, but the deletes
                # stored are delivered, so the router forgets their users now (GDPR)
                late = exc
                statuses, wakes = [s.decode() for s in exc.result[0]], exc.wakes
            self.rt.wake(wakes)
            for status, event in zip(statuses, accepted_events):
                if status == "accepted":
                    result.accepted += 1
                    if event["type"] == "delete":
                        result.deletes.append(event)
                elif status == "duplicate":
                    result.duplicates += 1
                    if event["type"] == "delete":  # its first request may have failed after storing it
                        result.deletes_again.append(event)
                else:
                    result.suppressed += 1
            # GDPR: the router forgets the users of the deletes stored, and again those of duplicate
            # deletes: the request that stored one may have failed before that (a 503 the client
            # retries); forgetting twice does no harm
            if self.on_delete is not None and result.deletes:
                self.on_delete(self.rt, result.deletes)
            if self.on_delete is not None and result.deletes_again:
                self.on_delete(self.rt, result.deletes_again, again=True)
            if late is not None:
                raise late
        return result

    def _trace_entry(self, source: str, received_ms: int, dests: list[str], event: dict[str, Any],
                     cache: dict[tuple[Any, ...], str]) -> str:
        """observe: the event's ``received`` trace entry; events routed alike share one (router/trace.py),
        in a request (``cache``) and across requests (``_trace_tails``: the entry after its time)."""
        integrations = event.get("integrations")
        key = (source, tuple(dests), event["type"], event.get("event"),
               json.dumps(integrations, sort_keys=True) if integrations else "")
        kept = len(key[4]) + len(str(key[3])) <= _TRACE_KEY_BYTES  # bounded memory: the client's values
        tail = self._trace_tails.get(key) if kept else ""
        if tail is None:
            if len(self._trace_tails) >= _TRACE_TAILS:
                self._trace_tails.clear()
            tail = self._trace_tails[key] = self._trace_tail(source, dests, event)
        if tail:
            return f'{{"at":{received_ms:d}{tail}'
        entry = cache.get(key)
        if entry is None:
            entry = cache[key] = received_entry(source, received_ms, dests, event, self.rt.config.enabled_destinations)
        return entry

    def _trace_tail(self, source: str, dests: list[str], event: dict[str, Any]) -> str:
        """What follows ``{"at":<ms>`` in the event's ``received`` entry, whatever the time; "" when
        the entry is not written that way (then each request writes its own)."""
        enabled = self.rt.config.enabled_destinations
        zero, one = (received_entry(source, ms, dests, event, enabled) for ms in (0, 1))
        if zero.startswith('{"at":0,') and one == '{"at":1' + zero[len('{"at":0'):]:
            return zero[len('{"at":0'):]
        return ""

    def _prepare(
        self,
        raw: Any,
        check_sizes: bool,
        context: Mapping[str, Any] | None,
        integrations: Mapping[str, Any] | None,
        sent_at: Any,
        received: datetime,
        received_ms: int,
        received_iso: str,
        strict: bool = False,
    ) -> tuple[Any, dict[str, Any], tuple[bytes, str, list[str], bytes]]:
        """One event from raw JSON to what the ingest script stores: (raw as merged, event, item).

        Everything that can fail on an event's content happens here, down to the bytes
        sent to Redis, so a failure is that event's rejection. Raises ``Rejection``."""
        if not isinstance(raw, dict):
            raise Rejection([{"path": "", "message": "each event must be a JSON object"}])
        if strict:
            merged = self._merge_batch(raw, context, integrations, sent_at)
            prepared = self._prepare_strict(merged, check_sizes, received, received_ms, received_iso)
            if prepared is not None:
                return merged, prepared[0], prepared[1]
        if check_sizes:
            n = size(raw)
            if n > MAX_EVENT_BYTES:
                raise Rejection([{"path": "", "message": f"event is {n} bytes; the limit is {MAX_EVENT_BYTES} bytes (32 KB)"}])
        raw = self._merge_batch(raw, context, integrations, sent_at)
        found = problems(raw, strict=strict)
        if found:
            raise Rejection(found)
        try:
            event = load_event(raw)
        except ValidationError as exc:
            raise Rejection(error_list(exc.messages)) from None
        return (raw, *self._stored(event, received, received_ms, received_iso))

    def _stored(self, event: dict[str, Any], received: datetime, received_ms: int,
                received_iso: str) -> tuple[dict[str, Any], tuple[bytes, str, list[str], bytes]]:
        """A loaded event enriched, routed and written as its envelope: (event, item)."""
        self._enrich(event, received, received_iso)
        dests = [d.name for d in self.rt.router.destinations_for(event)]
        regulation = f"del-{event['messageId']}" if event["type"] == "delete" else ""
        uhash = subject_hash(event)
        env = envelope_bytes(event, event["messageId"], received_ms, regulation, uhash)
        return event, (event["messageId"].encode("utf-8"), uhash, dests, env)

    def _prepare_strict(self, raw: dict[str, Any], check_size: bool, received: datetime, received_ms: int,
                        received_iso: str) -> tuple[dict[str, Any], tuple[bytes, str, list[str], bytes]] | None:
        """``_prepare``'s steps for a strict event (body.parse_strict), merged already, without the
        passes of ``size`` and ``problems`` over it: its envelope shows both are fine. None when
        anything failed or the envelope can't tell: ``_prepare`` then runs every check in its
        order, so a rejection is the one the checks give in that order.

        Why the envelope tells. Depth: every container of ``raw`` is in the loaded event
        (``[]`` as ``{}``; a container where the spec wants a scalar fails the load) and the
        envelope adds one, so ``raw``'s JSON has at most the envelope's count minus one brackets,
        which is what ``problems`` accepts for a strict value (``_few_containers``). Size: the
        event as sent is no larger than merged, and its JSON is no longer than the envelope's
        plus what rewriting its time fields saved (``_SIZE_SLACK``): every other field is kept
        or grows (a generated messageId, receivedAt, a corrected timestamp)."""
        event = load_common(raw)
        if event is None:
            return None
        try:
            event, item = self._stored(event, received, received_ms, received_iso)
        except (Rejection, ValidationError, *_EVENT_FAULTS):
            return None
        env = item[3]
        if env.count(b"{") + env.count(b"[") > MAX_DEPTH + 2:
            return None
        if check_size and len(env) + _SIZE_SLACK > MAX_EVENT_BYTES:
            return None
        return event, item

    @staticmethod
    def _merge_batch(
        raw: dict[str, Any],
        context: Mapping[str, Any] | None,
        integrations: Mapping[str, Any] | None,
        sent_at: Any,
    ) -> dict[str, Any]:
        """Batch-level context/integrations/sentAt apply to every event; the event's own keys win."""
        if not (context or integrations or sent_at):
            return raw
        raw = dict(raw)
        if context and isinstance(raw.get("context", {}) or {}, dict):
            raw["context"] = {**context, **(raw.get("context") or {})}
        if integrations and isinstance(raw.get("integrations", {}) or {}, dict):
            raw["integrations"] = {**integrations, **(raw.get("integrations") or {})}
        if sent_at and not raw.get("sentAt"):
            raw["sentAt"] = sent_at
        return raw

    @staticmethod
    def _enrich(event: dict[str, Any], received: datetime, received_iso: str) -> None:
        """receivedAt, a messageId when missing, and a clock-skew-corrected timestamp."""
        if not event.get("messageId"):
            event["messageId"] = f"er-{uuid.uuid4()}"
        if not event.get("timestamp"):
            original, sent = event.get("originalTimestamp"), event.get("sentAt")
            if original and sent:
                try:
                    event["timestamp"] = received - (sent - original)
                except OverflowError:
                    raise Rejection([{"path": "sentAt", "message": "sentAt and originalTimestamp are too far apart "
                                      "to correct the clock skew (the result is outside the years 1-9999)"}]) from None
            else:
                event["timestamp"] = original or received
        event["receivedAt"] = received_iso
        for key in _TIME_FIELDS:
            value = event.get(key)
            if isinstance(value, datetime):
                event[key] = iso(value)

    def _rejected_record(self, source: SourceConfig, raw: Any, errors: list[dict[str, str]], received_ms: int) -> str:
        """The rejection as the operator sees it, secrets redacted. ASCII JSON, so any string
        (a lone surrogate too) is stored as it came, escaped."""
        user = raw.get("userId") if isinstance(raw, dict) else None
        # a userId that is not valid Unicode has no hash (a delete can't name it either)
        u = user_hash(user) if encodable(str(user)) else ""
        record = {"source": source.name, "received_at": received_ms, "errors": errors, "event": raw}
        try:
            text = json.dumps(record, separators=(",", ":"), default=str)
        except (ValueError, RecursionError) as exc:  # e.g. nesting deeper than json can write
            record["event"] = {"unstorable": f"{type(exc).__name__}: {exc}"}
            text = json.dumps(record, separators=(",", ":"), default=str)
        return self.rt.redactor.record(u, text)  # "u" first, as it is: a delete's PURGE reads it

    def _keep_rejected(self, records: list[str], source: str) -> None:
        now = now_ms()
        minid = now - int(self.rt.config.delivery["dead_letter_ttl"] * 1000)
        pipe = self.rt.redis.pipeline(transaction=False)
        for rec in records:
            pipe.xadd(self.rt.queue.keys.rejected, {"d": rec}, minid=minid, approximate=True)
        pipe.hincrby(self.rt.queue.keys.ingest_stats, "rejected", len(records))
        count_rejected(pipe, self.rt.queue, source, len(records), now)  # observe: same round trip
        pipe.execute()
