"""From raw JSON events to envelopes in destination buffers: validate, enrich,
route, and store, in one Redis round trip per request (two when some events
were rejected and must be kept for the operator)."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Sequence

from marshmallow import ValidationError

from router.config import SourceConfig
from router.queue import envelope, now_ms, subject_hash, user_hash
from router.runtime import Runtime
from router.schemas import EventSchema, error_list
from router.timeseries import count_rejected
from router.trace import received_entry

MAX_EVENT_BYTES = 32 * 1024
MAX_REQUEST_BYTES = 500 * 1024
MAX_BATCH_EVENTS = 2500
_TIME_FIELDS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")


@dataclass
class IntakeResult:
    accepted: int = 0
    duplicates: int = 0
    suppressed: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[dict[str, Any]] = field(default_factory=list)

    def as_batch_answer(self) -> dict[str, Any]:
        return {
            "success": True,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "suppressed": self.suppressed,
            "rejected": self.rejected,
        }


def iso(dt: datetime) -> str:
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


DeleteHook = Callable[[Runtime, list[dict[str, Any]]], None]


class Intake:
    def __init__(self, rt: Runtime, on_delete: DeleteHook | None = None) -> None:
        self.rt = rt
        self.schema = EventSchema()
        #: called with the accepted delete events once they are queued (GDPR: the router forgets the user)
        self.on_delete = on_delete

    def accept(
        self,
        source: SourceConfig,
        raw_events: Sequence[Any],
        *,
        batch_context: Mapping[str, Any] | None = None,
        batch_integrations: Mapping[str, Any] | None = None,
        sent_at: Any = None,
        check_sizes: bool = True,
    ) -> IntakeResult:
        result = IntakeResult()
        received = datetime.now(timezone.utc)
        received_ms = int(received.timestamp() * 1000)
        received_iso = iso(received)
        items: list[tuple[str, str, list[str], str]] = []
        rejected_records: list[str] = []
        accepted_events: list[dict[str, Any]] = []
        traces: list[str] | None = [] if self.rt.queue.trace_cap else None  # observe: router/trace.py
        trace_cache: dict[tuple[Any, ...], str] = {}
        for index, raw in enumerate(raw_events):
            errors = self._precheck(raw, check_sizes)
            event = None
            if not errors:
                raw = self._merge_batch(raw, batch_context, batch_integrations, sent_at)
                try:
                    event = self.schema.load(raw)
                except ValidationError as exc:
                    errors = error_list(exc.messages)
            if errors:
                result.rejected.append({"index": index, "errors": errors})
                rejected_records.append(self._rejected_record(source, raw, errors, received_ms))
                continue
            self._enrich(event, received, received_iso)
            dests = [d.name for d in self.rt.router.destinations_for(event)]
            regulation = f"del-{event['messageId']}" if event["type"] == "delete" else ""
            uhash = subject_hash(event)
            env = envelope(event, event["messageId"], received_ms, regulation, uhash)
            items.append((event["messageId"], uhash, dests, env))
            if traces is not None:
                traces.append(self._trace_entry(source.name, received_ms, dests, event, trace_cache))
            accepted_events.append(event)
        if rejected_records:
            self._keep_rejected(rejected_records, source.name)
        if items:
            statuses, wakes = self.rt.queue.ingest(source.name, items, self.rt.config.dedup_ttl, traces)
            self.rt.wake(wakes)
            for status, event in zip(statuses, accepted_events):
                if status == "accepted":
                    result.accepted += 1
                    if event["type"] == "delete":
                        result.deletes.append(event)
                elif status == "duplicate":
                    result.duplicates += 1
                else:
                    result.suppressed += 1
        if result.deletes and self.on_delete is not None:
            self.on_delete(self.rt, result.deletes)
        return result

    def _trace_entry(self, source: str, received_ms: int, dests: list[str], event: dict[str, Any],
                     cache: dict[tuple[Any, ...], str]) -> str:
        """observe: the event's ``received`` trace entry; events routed alike share one (router/trace.py)."""
        integrations = event.get("integrations")
        key = (tuple(dests), event["type"], event.get("event"), json.dumps(integrations, sort_keys=True) if integrations else "")
        entry = cache.get(key)
        if entry is None:
            entry = cache[key] = received_entry(source, received_ms, dests, event, self.rt.config.enabled_destinations)
        return entry

    def _precheck(self, raw: Any, check_sizes: bool) -> list[dict[str, str]]:
        if not isinstance(raw, dict):
            return [{"path": "", "message": "each event must be a JSON object"}]
        if check_sizes:
            size = len(json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode())
            if size > MAX_EVENT_BYTES:
                return [{"path": "", "message": f"event is {size} bytes; the limit is {MAX_EVENT_BYTES} bytes (32 KB)"}]
        return []

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
                event["timestamp"] = received - (sent - original)
            else:
                event["timestamp"] = original or received
        event["receivedAt"] = received_iso
        for key in _TIME_FIELDS:
            value = event.get(key)
            if isinstance(value, datetime):
                event[key] = iso(value)

    def _rejected_record(self, source: SourceConfig, raw: Any, errors: list[dict[str, str]], received_ms: int) -> str:
        return json.dumps(
            {"u": user_hash(raw.get("userId")) if isinstance(raw, dict) else "",
             "source": source.name, "received_at": received_ms, "errors": errors, "event": raw},
            separators=(",", ":"),
            ensure_ascii=False,
            default=str,
        )

    def _keep_rejected(self, records: list[str], source: str) -> None:
        now = now_ms()
        minid = now - int(self.rt.config.delivery["dead_letter_ttl"] * 1000)
        pipe = self.rt.redis.pipeline(transaction=False)
        for rec in records:
            pipe.xadd(self.rt.queue.keys.rejected, {"d": rec}, minid=minid, approximate=True)
        pipe.hincrby(self.rt.queue.keys.ingest_stats, "rejected", len(records))
        count_rejected(pipe, self.rt.queue, source, len(records), now)  # observe: same round trip
        pipe.execute()
