"""The RQ job that delivers: drain a destination's buffer batch by batch.

claim (lease) -> map each event (pure) -> send -> settle one outcome per event:
delivered / skipped are counted; retry goes to the retry schedule with
backoff (or back to the head of the buffer when only our own rate limit or a
failing vendor stopped it, without using up an attempt); rejected and
expired retries become dead letters with their reason.

Isolation: a batch that got no answer feeds the destination's circuit breaker
(router/queue.py CLAIM/SETTLE), so a hanging vendor holds at most one worker;
a drain job that has had its slice yields its worker to another destination's
waiting job. A crash while handling a batch retries the batch at once.

Per-user order (``ordering: per_user``) lives in the queue's ordered scripts; the drainer only
hands each batch's outcomes to router/ordering.py's Sequencer before settling.
"""
from __future__ import annotations

import dataclasses
import enum
import json
import logging
import math
import random
import threading
import time
import uuid
from typing import Any

import orjson
import redis

from destinations.base import Destination, Outcome, OutcomeStatus, Prepared
from router.body import loads
from router.config import DestinationConfig
from router.envelopes import decode_batch, split
from router.errors import FOREIGN_FAULTS, DeliveryError
from router.exchanges import SHARED_BODY, scrubber, stored
from router.logs import DeliveryLog, health
from router.ordering import Sequencer
from router.queue import Claimed, Settlement, Verdict, now_ms
from router.redact import Redactor
from router.regulations import regulation_outcome
from router.routing import renamed
from router.runtime import Runtime
from router.timeseries import delivery_fields
from router.trace import attempt_entry
from router.transforms import combine, send_in_parts, stage

log = logging.getLogger(__name__)
SHORT_PAUSE = 1.0
#: a drain job that has run this long gives its worker up, after the batch in hand, as soon
#: as another destination's drain job waits for one (drain_budget is the limit otherwise)
FAIR_SLICE = 1.0
#: observe: recent delivered exchanges kept per destination (``metrics: {samples: N}``), and
#: the most messageIds one sample lists
DEFAULT_SAMPLES = 20
SAMPLE_IDS = 20


def drain_job(dest: str, token: str) -> dict[str, int]:
    """RQ entry point."""
    return Drainer(Runtime.current(), dest, token).run()


def person(env: dict[str, Any]) -> str:
    """Whose event an envelope holds: the userId hash, else the anonymousId hash, else the event itself."""
    return env.get("u") or env.get("o") or "~" + str(env.get("id"))


def backoff(attempts: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: between half and all of base * 2^(attempts-1), capped."""
    # the exponent bounded: past ~1000 attempts 2**n no longer fits a float (OverflowError)
    delay = min(cap, base * 2.0 ** min(max(0, attempts - 1), 64))
    return delay * random.uniform(0.5, 1.0)


def bounded(delay: float | None, ceiling: float) -> float | None:
    """A vendor's (or a plugin's) retry delay made safe for arithmetic: None when absent or NaN,
    else between 0 and ``ceiling`` seconds (inf, 1e308 and negatives included)."""
    if delay is None:
        return None
    if isinstance(delay, int) and not isinstance(delay, bool):  # compared as an int: 10**400 is no float
        return float(min(max(0, delay), ceiling))
    if math.isnan(delay):
        return None
    return min(max(0.0, float(delay)), ceiling)


def verdict(outcomes: list[Outcome]) -> Verdict:
    """What a sent batch tells the circuit breaker: no answer (timeout, no connection, the plugin
    failed as a whole) wins over an answer; our own throttling and held-back events tell nothing."""
    if any(o.status is OutcomeStatus.RETRY and o.counts_as_attempt and o.http_status is None for o in outcomes):
        return Verdict.NO_ANSWER
    if any(o.http_status is not None or o.status is OutcomeStatus.DELIVERED for o in outcomes):
        return Verdict.ANSWERED
    return Verdict.UNKNOWN


def jsonable(value: Any) -> Any:
    """How a plugin's payload objects (dataclasses, enums) appear in a dead letter."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    return str(value)


class LeaseKeeper:
    """Keeps the drain token and the current batch's lease alive while a slow send runs."""

    def __init__(self, rt: Runtime, dest: str, token: str) -> None:
        self.rt, self.dest, self.token = rt, dest, token
        self.batch_id = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"lease-{dest}")

    def __enter__(self) -> "LeaseKeeper":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        interval = max(0.2, self.rt.queue.lease_ms / 3000)
        while not self._stop.wait(interval):
            try:
                self.rt.queue.extend(self.dest, self.token, self.batch_id)
            except Exception:  # the reaper returns the batch if the lease lapses: nothing is lost
                log.warning("could not extend the lease of %s", self.dest, exc_info=True)


class Drainer:
    def __init__(self, rt: Runtime, dest: str, token: str) -> None:
        self.rt = rt
        self.dest = dest
        self.token = token
        self.dc: DestinationConfig = rt.destination_config(dest)
        self.plugin = rt.build(dest)
        self.redact = rt.redactor  # every configured secret, not only this destination's
        self.delivery = rt.config.delivery
        self.log = DeliveryLog(dest, self.redact)  # dead-letter and failing/recovered lines
        self._stored: dict[int, dict[str, Any]] = {}
        self._scrubbers: dict[int, Redactor] = {}
        self.others = [rt.rq_queue(d.name).key for d in rt.config.enabled_destinations if d.name != dest]
        self.ordered = self.dc.ordered  # ``ordering: per_user``
        self.tallies = getattr(type(self.plugin), "tally", None) is not Destination.tally  # the base counts nothing
        #: the stored event is the payload: sent as it is stored, without parsing it
        self.passthrough = (getattr(self.plugin, "passthrough", False) is True and self.dc.filters is None and self.dc.transform is None
                            and not self.dc.rename)

    def run(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        park_until = 0
        started = time.monotonic()
        deadline = started + self.delivery["drain_budget"]
        yielded = False
        #: the next batch, claimed with the last one's settle (one round trip for both)
        claimed: Claimed | Exception | None = None
        try:
            with LeaseKeeper(self.rt, self.dest, self.token) as keeper:
                while claimed is not None or time.monotonic() < deadline:
                    if claimed is None:
                        claimed = self.rt.queue.claim(
                            self.dest, self.token, uuid.uuid4().hex[:16], self.dc.batch_size, self.dc.concurrency,
                            self.others, ordered=self.ordered,
                        )
                    if isinstance(claimed, Exception):
                        raise claimed
                    batch_id = claimed.batch_id
                    self.rt.wake([(self.dest, claimed.spawn)])
                    if not claimed.items and claimed.more:
                        claimed = None
                        continue  # ordered: a scan held busy users' events; look further
                    if not claimed.items:
                        # an open breaker: no drain job for this destination until it half-opens
                        park_until = claimed.open_until
                        break
                    keeper.batch_id = batch_id
                    items, yielding = claimed.items, claimed.others_waiting
                    current, claimed = claimed, None
                    try:
                        settlement, pause = self.process(items, current)
                        if pause or (yielding and time.monotonic() - started >= FAIR_SLICE) or time.monotonic() >= deadline:
                            settled = self.rt.queue.settle(
                                self.dest, batch_id, settlement, self.delivery["dead_letter_ttl"], self.dc.breaker
                            )
                        else:  # going on: the next batch is claimed in the settle's round trip
                            settled, claimed = self.rt.queue.settle_and_claim(
                                self.dest, batch_id, settlement, self.delivery["dead_letter_ttl"], self.dc.breaker,
                                self.token, uuid.uuid4().hex[:16], self.dc.batch_size, self.dc.concurrency, self.others,
                                ordered=self.ordered,
                            )
                    except Exception as exc:
                        # a plugin bug or a vendor answer we could not handle: the batch is
                        # retried now rather than after its lease, and this destination pauses
                        self.recover(batch_id, items, exc)
                        park_until = now_ms() + int(self.delivery["retry_base"] * 1000)
                        break
                    finally:
                        keeper.batch_id = ""
                    self.log.flush(settled, settlement.health_change)
                    for k, v in settlement.counts.items():
                        totals[k] = totals.get(k, 0) + v
                    if pause:
                        # a short wait (our own rate limit) keeps the worker; a long one (a failing vendor) frees it
                        if pause <= SHORT_PAUSE and time.monotonic() + pause < deadline:
                            time.sleep(pause)
                        else:
                            park_until = now_ms() + int(pause * 1000)
                            break
                    if claimed is None and yielding and time.monotonic() - started >= FAIR_SLICE:
                        yielded = True
                        break
        finally:
            if isinstance(claimed, Claimed) and claimed.items:  # claimed with the last settle, never processed
                try:
                    self.rt.queue.give_back(self.dest, claimed.batch_id, ordered=self.ordered)
                except Exception as exc:  # Redis away: its lease returns the batch when it lapses
                    log.error("could not give back the batch of %s (%s)", self.dest, type(exc).__name__)
            successor = self.rt.queue.release(self.dest, self.token, park_until, successor=not yielded, ordered=self.ordered)
            self.rt.wake([(self.dest, successor)])
        return totals

    def recover(self, batch_id: str, items: list[bytes], exc: Exception) -> None:
        """After process/settle raised: schedule the batch's events for a retry (an attempt each,
        so a batch that always crashes ends as dead letters), or failing that give it back as is."""
        log.error("drain of %s failed (%s: %s); its %d events are retried",
                  self.dest, type(exc).__name__, self.redact.text(str(exc)), len(items))
        failed = Outcome(OutcomeStatus.RETRY, f"delivery failed: {type(exc).__name__}")
        self.log.pending.clear()  # the crashed attempt's dead letters were never stored: no lines for them
        try:
            settlement = Settlement()
            now = now_ms()
            envs = [json.loads(raw) for raw in items]
            order = Sequencer(envs) if self.ordered else None
            self._entries, self._traced = {}, {}  # the crashed attempt's trace entries were never stored
            for env in envs:
                before = Sequencer.mark(settlement)
                self.trace(env, failed, now, settlement)  # observe: the attempt used, in the event's trace
                settled_as = self.schedule_retry(env, failed, None, now, settlement)
                if env.get("g"):
                    settlement.regulations.append(regulation_outcome(env["g"], settled_as, self.scrubber(settled_as)))
                if order:
                    order.note(env, settlement, before)
            if order:
                order.done(settlement)
            settlement.metrics = delivery_fields(settlement.counts, ())  # the minute series counts them as the totals do
            if self.rt.queue.settle(self.dest, batch_id, settlement, self.delivery["dead_letter_ttl"], self.dc.breaker):
                self.log.flush(True, ("", ""))  # the give-ups among them
                return
        except Exception as again:
            log.error("could not retry the batch of %s (%s); giving it back", self.dest, type(again).__name__)
        try:
            self.rt.queue.give_back(self.dest, batch_id, ordered=self.ordered)
        except Exception as last:  # Redis away: the lease returns the batch when it lapses
            log.error("could not give back the batch of %s (%s)", self.dest, type(last).__name__)

    def process(self, items: list[bytes], claimed: Claimed | None = None) -> tuple[Settlement, float]:
        """Map, send and judge one claimed batch. Returns the settlement and how long to pause.
        ``claimed``: what CLAIM said about the batch (its users' GDPR delete times)."""
        self._unparsed: dict[int, bytes] = {}  # id(envelope) -> its event's JSON, not parsed (yet)
        self._tallied: dict[int, dict[str, int]] = {}  # envelope index -> the plugin's counters of its mapped events
        envs = self.envelopes(items)
        settlement = Settlement()
        order = Sequencer(envs) if self.ordered else None
        envs = self.drop_forgotten(envs, settlement, claimed)
        outcomes: list[Outcome | None] = [None] * len(envs)
        prepared: list[tuple[int, Prepared]] = []
        parts: dict[int, list[Outcome | None]] = {}  # a transform may make several events of one
        dropped: set[int] = set()  # by the destination's filters or transform: counted as filtered
        plain = self.dc.filters is None and self.dc.transform is None  # stage() would pass each event as is
        rename = self.dc.rename
        for i, env in enumerate(envs):
            raw = self._unparsed.get(id(env))
            if raw is not None:  # passthrough: the stored event is the payload
                prepared.append((i, Prepared({}, orjson.Fragment(raw))))
                continue
            if plain:
                events = [env["e"]]
            else:
                staged = stage(env["e"], self.dc.filters, self.dc.transform, self.dc.transform_name)
                outcomes[i] = staged.outcome
                if staged.filtered:
                    dropped.add(i)
                events = staged.events
            if len(events) == 1:  # the outcome is the event's own: no parts to combine
                outcomes[i] = self.prepare(i, renamed(events[0], rename) if rename else events[0], prepared, settlement)
                continue
            for event in events:  # none: the stage's outcome stands
                parts.setdefault(i, []).append(self.prepare(i, renamed(event, rename), prepared, settlement))
        if prepared:
            sent = self.send([p for _, p in prepared])
            for (i, _), outcome in zip(prepared, sent):
                slot = parts.get(i)
                if slot is None:
                    outcomes[i] = outcome
                else:
                    slot[slot.index(None)] = outcome
            settlement.verdict = verdict(sent)
        for i, got in parts.items():
            outcomes[i] = combine([o for o in got if o is not None])
        pause = 0.0
        now = now_ms()
        latencies: list[int] = []  # observe: received -> vendor accepted, for the latency histogram
        self._entries: dict[tuple[Any, ...], str] = {}  # observe: this batch's trace entries
        self._traced: dict[tuple[int, int], list[str]] = {}  # observe: (outcome, attempts) -> its entry's ids
        self._stored: dict[int, dict[str, Any]] = {}  # observe: each call's exchanges, redacted once
        self._scrubbers: dict[int, Redactor] = {}
        self._batch = (envs, outcomes, prepared)
        self._carried_by: dict[int, set[str]] = {}
        self._payloads: dict[int, Any] | None = None
        delivered = 0
        for i, (env, outcome) in enumerate(zip(envs, outcomes)):
            assert outcome is not None
            settled_as = outcome
            self.trace(env, outcome, now, settlement)  # observe
            before = Sequencer.mark(settlement) if order else None
            if outcome.status is OutcomeStatus.DELIVERED:
                delivered += 1
                latencies.append(now - env["r"])
                for name, n in self._tallied.get(i, {}).items():
                    settlement.count(name, n)
            elif outcome.status is OutcomeStatus.SKIPPED:
                settlement.count("filtered" if i in dropped else "skipped")
            elif outcome.status is OutcomeStatus.RETRY and not outcome.counts_as_attempt:
                self.whole(env)
                settlement.front.append(json.dumps(env, separators=(",", ":"), ensure_ascii=False))
                pause = max(pause, bounded(outcome.retry_after, self.dc.retry_window) or self.delivery["retry_base"])
            elif outcome.status is OutcomeStatus.RETRY:
                settled_as = self.schedule_retry(self.whole(env), outcome, self.payloads().get(i), now, settlement)
            else:
                settlement.dead.append(self.dead_letter(self.whole(env), outcome, self.payloads().get(i), now))
                settlement.count("rejected")
            if env.get("g"):  # a GDPR delete: its regulation counts what became of it here (in SETTLE)
                settlement.regulations.append(regulation_outcome(env["g"], settled_as, self.scrubber(settled_as)))
            if order and before:
                order.note(env, settlement, before)
        if delivered:
            settlement.count("delivered", delivered)
        if order:
            order.done(settlement)
        # observe: SETTLE writes these to the minute series, the failing/recovered state and the sample
        settlement.sample = self.sample(envs, outcomes, now)
        settlement.sample_cap = int(self.rt.config.metrics.get("samples", DEFAULT_SAMPLES))
        settlement.metrics = delivery_fields(settlement.counts, latencies)
        settlement.health, settlement.health_note = health([o for o in outcomes if o is not None], self.scrubber, now)
        return settlement, pause

    def prepare(self, i: int, event: dict[str, Any], prepared: list[tuple[int, Prepared]], s: Settlement) -> Outcome | None:
        """Map one event of envelope ``i`` for sending (added to ``prepared``: None, its outcome
        comes from the send), or the outcome the mapper gave it instead."""
        try:
            payload = self.plugin.map(event)
            tallied = self.plugin.tally(payload) if self.tallies else {}
        except DeliveryError as exc:
            return Outcome.from_error(exc)
        except FOREIGN_FAULTS as exc:  # sys.exit() in a plugin would end the drain job, its batch leased
            log.exception("mapper of %s failed", self.dest)
            return Outcome(OutcomeStatus.REJECTED, f"mapping failed: {type(exc).__name__}: {exc}")
        prepared.append((i, Prepared(event, payload)))
        counts = self._tallied.setdefault(i, {})  # counted once the event is delivered: a retry maps it again
        for name, n in tallied.items():
            counts[name] = counts.get(name, 0) + n
        return None

    def envelopes(self, items: list[bytes]) -> list[dict[str, Any]]:
        """The batch's envelopes. For a destination whose payload is the event as it is (no filters,
        transform or renames, ``Destination.passthrough``) the events stay JSON text: their bytes
        are sent as stored, and parsed only for what needs them (a retry, a dead letter, the sample)."""
        if not self.passthrough:
            return decode_batch(items)
        envs = []
        for raw in items:
            parts = split(raw)
            if parts is None:
                envs.append(loads(raw))
                continue
            envs.append(parts[0])
            self._unparsed[id(parts[0])] = parts[1]
        return envs

    def whole(self, env: dict[str, Any]) -> dict[str, Any]:
        """``env`` with its event parsed (passthrough leaves it as text until something reads it)."""
        raw = self._unparsed.pop(id(env), None)
        if raw is not None:
            env["e"] = loads(raw)
        return env

    def message_id(self, env: dict[str, Any]) -> str:
        """The event's messageId, else the envelope's id. An event left as text is not parsed for
        it when it holds its id as a messageId: ingest files an event under its messageId, and a
        backfill's id is a fresh uuid, which no other messageId inside the event can be."""
        raw = self._unparsed.get(id(env))
        if raw is not None and isinstance(env.get("id"), str) and b'"messageId":' + orjson.dumps(env["id"]) in raw:
            return env["id"]
        return self.whole(env)["e"].get("messageId") or env["id"]

    def payloads(self) -> dict[int, Any]:
        """What the mapper made of each envelope's event(s), for its retry or dead letter (once a batch)."""
        if self._payloads is None:
            grouped: dict[int, list[Any]] = {}
            envs = self._batch[0]
            for i, p in self._batch[2]:
                # passthrough: the payload is the event itself
                grouped.setdefault(i, []).append(self.whole(envs[i])["e"] if isinstance(p.payload, orjson.Fragment) else p.payload)
            self._payloads = {i: ps[0] if len(ps) == 1 else ps for i, ps in grouped.items()}
        return self._payloads

    def carried(self, exchanges: list[dict[str, Any]]) -> set[str]:
        """The people whose events the call of ``exchanges`` carried: a request shared by several keeps
        no bodies (a GDPR delete of one could not reach the copies in the others' dead letters)."""
        people = self._carried_by.get(id(exchanges))
        if people is None:
            envs, outcomes, _ = self._batch
            people = self._carried_by[id(exchanges)] = {  # person(env), inline: once per event
                env.get("u") or env.get("o") or "~" + str(env.get("id"))
                for env, o in zip(envs, outcomes) if o is not None and o.exchanges is exchanges}
        return people

    def trace(self, env: dict[str, Any], outcome: Outcome, now: int, s: Settlement) -> None:
        """observe: the attempt, for the event's trace (router/trace.py); our own throttling is no attempt."""
        if outcome.status is OutcomeStatus.RETRY and not outcome.counts_as_attempt:
            return
        if outcome.status is not OutcomeStatus.RETRY:  # final: the entry depends on the outcome and attempt only
            ids = self._traced.get((id(outcome), env["a"]))
            if ids is None:
                ids = self._traced[(id(outcome), env["a"])] = self.trace_ids(env, outcome, now, s)
            ids.append(env["id"])
            return
        self.trace_ids(env, outcome, now, s).append(env["id"])

    def trace_ids(self, env: dict[str, Any], outcome: Outcome, now: int, s: Settlement) -> list[str]:
        """The messages whose traces get this attempt's entry (most of a batch shares one)."""
        attempts = env["a"] + 1
        final = outcome.status is not OutcomeStatus.RETRY or (now - (env["f"] or now)) / 1000 >= self.dc.retry_window
        key = (outcome.status, outcome.reason, outcome.http_status, attempts, final)
        entry = self._entries.get(key)  # most of a batch shares one outcome: one JSON entry for them
        if entry is None:
            # the call's scrubber, as for its dead letter: a vendor may quote the credentials it was sent
            entry = self._entries[key] = attempt_entry(self.dest, outcome, attempts, now, self.scrubber(outcome), final)
        return s.trace.setdefault(entry, [])

    def stored_exchanges(self, outcome: Outcome) -> dict[str, Any]:
        """observe: the exchanges of the call that carried the event, redacted and bounded (once per call)."""
        if not outcome.exchanges:
            return {}
        key = id(outcome.exchanges)
        if key not in self._stored:
            self._stored[key] = stored(outcome.exchanges, self.scrubber(outcome),
                                       shared_by=len(self.carried(outcome.exchanges)))
        return self._stored[key]

    def scrubber(self, outcome: Outcome) -> Redactor:
        """observe: every configured secret plus the credentials the call's requests carried (Basic auth...)."""
        if not outcome.exchanges:
            return self.redact
        key = id(outcome.exchanges)
        if key not in self._scrubbers:
            self._scrubbers[key] = scrubber(outcome.exchanges, self.redact)
        return self._scrubbers[key]

    def sample(self, envs: list[dict[str, Any]], outcomes: list[Outcome | None], now: int) -> str:
        """observe: one delivered exchange of the batch for the recent-deliveries list ('' when none)."""
        if not int(self.rt.config.metrics.get("samples", DEFAULT_SAMPLES)):
            return ""
        first = next((o for o in outcomes if o is not None and o.status is OutcomeStatus.DELIVERED and o.exchanges), None)
        if first is None:
            return ""
        carried = [e for e, o in zip(envs, outcomes) if o is not None and o.exchanges is first.exchanges]
        ids = [self.message_id(e) for e in carried[:SAMPLE_IDS]]
        people = self.carried(first.exchanges)
        only = next(iter(people)) if len(people) == 1 else ""
        # "u" first: SETTLE reads it to drop the sample of a person deleted while the batch was out
        record = {"at": now, "destination": self.dest, "events": len(carried), "message_ids": ids, **self.stored_exchanges(first)}
        return self.scrubber(first).record(only if only and not only.startswith("~") else "",
                                           json.dumps(record, separators=(",", ":"), ensure_ascii=False))

    def send(self, batch: list[Prepared]) -> list[Outcome]:
        return send_in_parts(self.send_part, batch, self.dc.batch_size)

    def send_part(self, batch: list[Prepared]) -> list[Outcome]:
        try:
            outcomes = self.plugin.send(batch)
        except DeliveryError as exc:
            return [Outcome.from_error(exc) for _ in batch]
        except redis.RedisError:
            # our storage failed (the shared rate limit during a failover), not the vendor: no
            # "no answer" for its circuit breaker; the drain retries the batch as after a crash
            raise
        except FOREIGN_FAULTS as exc:
            # a bug or an unexpected answer (or a sys.exit()): keep the events and try again later
            log.exception("send of %s failed", self.dest)
            return [Outcome(OutcomeStatus.RETRY, f"destination failed: {type(exc).__name__}: {exc}") for _ in batch]
        if not (isinstance(outcomes, list) and all(isinstance(o, Outcome) for o in outcomes)):
            # a plugin's mistake, said as one: not a TypeError from somewhere in the settlement
            got = type(outcomes).__name__ if not isinstance(outcomes, list) else "a list of " + ", ".join(
                sorted({type(o).__name__ for o in outcomes if not isinstance(o, Outcome)}))
            reason = f"destination failed: {self.plugin.slug}'s send() returned {got}, not a list of Outcome (one per event, in order)"
            log.error("send of %s failed: %s", self.dest, reason)
            return [Outcome(OutcomeStatus.RETRY, reason) for _ in batch]
        if len(outcomes) != len(batch):
            return [Outcome(OutcomeStatus.RETRY, f"destination returned {len(outcomes)} outcomes for {len(batch)} events") for _ in batch]
        return outcomes

    def schedule_retry(self, env: dict[str, Any], outcome: Outcome, payload: Any, now: int, s: Settlement) -> Outcome:
        """Schedule the event's next attempt, or past its retry_window make it a dead letter; the
        outcome it was settled with (the give-up's rejection, a GDPR delete's regulation counts it)."""
        attempts = env["a"] + 1
        first = env["f"] or now
        if (now - first) / 1000 >= self.dc.retry_window:
            failed = Outcome(
                OutcomeStatus.REJECTED,
                f"gave up after {attempts} attempts over {(now - first) / 1000:.0f}s: {outcome.reason}",
                outcome.http_status,
                outcome.response,
                exchanges=outcome.exchanges,
            )
            s.dead.append(self.dead_letter(env, failed, payload, now, gave_up=True))
            s.count("rejected")
            s.count("gave_up")
            return failed
        delay = bounded(outcome.retry_after, self.dc.retry_window)
        if delay is None:
            delay = backoff(attempts, self.delivery["retry_base"], self.delivery["retry_max"])
        # the next attempt falls inside the retry window (its last moment at the latest)
        delay = min(delay, (first + self.dc.retry_window * 1000 - now) / 1000)
        # the event stays last (router/queue.py; passthrough reads the fields before it alone)
        env = {**{k: v for k, v in env.items() if k != "e"}, "a": attempts, "f": first,
               "l": self.scrubber(outcome).text(outcome.reason), "e": env["e"]}
        s.retry.append((now + int(delay * 1000), json.dumps(env, separators=(",", ":"), ensure_ascii=False)))
        s.count("retried")
        return outcome

    def dead_letter(self, env: dict[str, Any], outcome: Outcome, payload: Any, now: int, gave_up: bool = False) -> str:
        attempts = env["a"] + (1 if outcome.counts_as_attempt else 0)
        self.log.dead_letter(env["e"].get("messageId") or env["id"], outcome, attempts, gave_up,  # observe: logged once settled
                             self.scrubber(outcome))
        # a vendor's answer to a call that carried several people's events may quote them all: as
        # for the call's bodies, their data stays out of this person's record (its reason stays)
        shared = len(self.carried(outcome.exchanges)) if outcome.exchanges else 1
        record = {  # "u" (the user's hash) goes first, as it is: PURGE and SETTLE read it
            "id": env["id"],
            "r": env["r"],
            "destination": self.dest,
            "reason": outcome.reason,
            "status": outcome.http_status,
            "response": SHARED_BODY.format(n=shared) if shared > 1 and outcome.response is not None else outcome.response,
            "attempts": attempts,
            "first_attempt_at": env["f"] or now,
            "failed_at": now,
            "event": env["e"],
            "payload": payload,
            **({"regulation": env["g"]} if env.get("g") else {}),  # a GDPR delete's: a replay tracks it again
            **self.stored_exchanges(outcome),  # observe: the request made and the vendor's answer
        }
        return self.scrubber(outcome).record(env["u"], json.dumps(record, separators=(",", ":"), ensure_ascii=False, default=jsonable))

    def drop_forgotten(self, envs: list[dict[str, Any]], s: Settlement, claimed: Claimed | None = None) -> list[dict[str, Any]]:
        """Events of a user deleted after they were received are not delivered (GDPR: the delete wins).

        The delete already purged the queues; this covers a batch claimed just before it. CLAIM
        looked the delete times up (``claimed``), or saw that no delete is recorded (``clear``);
        when it could not see every user, they are asked for."""
        if claimed is not None and claimed.clear:
            return envs
        hashes = {e["u"] for e in envs if e["u"]}
        if not hashes:
            return envs
        if claimed is not None and claimed.looked_up == len(hashes) and hashes.issuperset(claimed.forgotten):
            deleted_at = claimed.forgotten
        else:
            keys = self.rt.queue.keys
            ordered = sorted(hashes)
            deleted_at = {h: int(t) for h, t in zip(ordered, self.rt.redis.mget([keys.forgotten(h) for h in ordered])) if t}
        if not deleted_at:
            return envs
        kept = []
        for env in envs:
            if env["u"] in deleted_at and env["r"] <= deleted_at[env["u"]]:
                s.count("forgotten")
            else:
                kept.append(env)
        return kept
