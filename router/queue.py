"""The delivery queue in Redis: buffers, drain tokens, leases, retries, dead letters.

Every key lives here. For a destination instance ``d`` under namespace ``ns``:

    ns:buf:d          list    envelopes waiting (RPUSH at ingest)
    ns:drainers:d     zset    drain token -> deadline (ms); at most ``concurrency`` live,
                              so ingest enqueues an RQ drain job only when none is live
    ns:inflight:d     zset    batch id -> lease deadline; ns:batch:d:<id> holds its envelopes
    ns:retry:d        zset    envelope -> due time (ms)
    ns:dead:d         stream  dead letters (field ``d``: JSON), trimmed by age
    ns:stats:d        hash    delivered / retried / rejected / skipped / forgotten counters
    ns:breaker:d      hash    the circuit breaker: fails / until / probe (see CLAIM)
    ns:dedup:<src>:<messageId>, ns:suppressed (set of user-id hashes), ns:rejected (stream of ingest rejections)
    ns:forgotten:<u>  string  GDPR: user-id hash u's delete time (ms), for FORGET_SECONDS
    ns:m:...          per-minute counters and latency histograms (router/timeseries.py)
    ns:failing:d      string  set while the destination fails: when and why (router/logs.py)
    ns:busy:d, ns:held:d:<user>, ns:ready:d   per-user order (``ordering: per_user``), see ORDER_PRELUDE
    ns:trace:<messageId>, ns:trring, ns:tu:<u>   event traces (router/trace.py)

Each state change is one Lua script (router/scripts.py, the ordered twins in
router/scripts_ordered.py), so a crash between two steps can't lose
or double an event, and ingest costs one round trip per request.

An envelope's layout: router/envelopes.py.
"""
from __future__ import annotations

import enum
import json
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import redis

from router import timeseries
from router.scripts import FORGET_SECONDS, INGEST, PUSH, REPLAY, CLAIM, EXTEND, SETTLE, RELEASE, RETURN, TICK, PURGE
from router.scripts_ordered import UNHOLD, CLAIM_ORDERED, SETTLE_ORDERED, RETURN_ORDERED, TICK_ORDERED, RELEASE_ORDERED


#: at most this many of one user's events go in one batch
PER_USER = 25


def scan_limit(batch_size: int) -> int:
    """How many buffer events one ordered claim looks at, at most: enough to fill a batch past
    busy users, bounded so that a user with thousands of waiting events can't stall a claim."""
    return min(5000, 4 * batch_size + 100)  # also keeps unpack() below Lua's stack limit


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Claimed:
    batch_id: str
    items: list[bytes]
    spawn: str = ""
    #: ms: the destination's circuit breaker is open until then (nothing was claimed)
    open_until: int = 0
    #: a drain job of another destination is waiting for a worker
    others_waiting: bool = False
    #: ordered: nothing could be taken (its users were busy), but the buffer has more to look at
    more: bool = False
    #: GDPR: user hash -> delete time (ms) of the batch's users deleted before the claim
    forgotten: dict[str, int] = field(default_factory=dict)
    #: how many distinct users CLAIM looked up for ``forgotten`` (-1: it did not look)
    looked_up: int = -1
    #: GDPR: no delete is recent enough for a forgotten:<u> key to live (scripts.CLAIM): no user of the batch is forgotten
    clear: bool = False


class Verdict(str, enum.Enum):
    """What a batch told the circuit breaker about the vendor."""

    ANSWERED = "ok"
    NO_ANSWER = "fail"
    UNKNOWN = ""


@dataclass(frozen=True)
class Breaker:
    """A destination's circuit breaker: open after ``failures`` batches in a row got no answer,
    for ``pause`` seconds (doubling each time the probe fails, at most ``max_pause``)."""

    failures: int = 1
    pause: float = 5.0
    max_pause: float = 120.0


@dataclass
class Settlement:
    """What a drain decided for one batch; written in one script call."""

    retry: list[tuple[int, str]] = field(default_factory=list)
    front: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    #: the GDPR deletes in the batch: (regulation id, 'finished' / 'failed' / 'last_error', reason),
    #: counted on the regulation by SETTLE itself (router/regulations.py ``regulation_outcome``)
    regulations: list[tuple[str, str, str]] = field(default_factory=list)
    # observe: what the batch adds to the minute series (router/timeseries.py), and the
    # destination's health ("ok" / "fail" with a note / "" unknown). SETTLE answers with
    # ``health_change``: ("failing", note) or ("recovered", the note it was failing with).
    metrics: dict[str, int] = field(default_factory=dict)
    health: str = ""
    health_note: str = ""
    health_change: tuple[str, str] = ("", "")
    #: trace entry -> the messageIds whose traces it is appended to (most of a batch shares one entry)
    trace: dict[str, list[str]] = field(default_factory=dict)
    #: one delivered exchange (JSON, redacted) for the recent-deliveries list, and the list's length
    sample: str = ""
    sample_cap: int = 0
    #: what the batch told the circuit breaker
    verdict: Verdict = Verdict.UNKNOWN

    #: an ordered destination's per-user outcome (router/ordering.py); None: unordered
    ordered: "UserOrder | None" = None

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


@dataclass
class UserOrder:
    """What settling a batch does to its users at an ordered destination."""

    #: every user of the batch -> its unfinished events, oldest first, back to the head of its held list
    held: dict[str, list[str]] = field(default_factory=dict)
    #: users whose oldest event went to retry -> its received ms: they stay busy while SETTLE stores it
    busy: dict[str, int] = field(default_factory=dict)
    #: (user, dead-letter record): SETTLE adds how many of the user's later events continue
    dead: list[tuple[str, str]] = field(default_factory=list)


class Keys:
    def __init__(self, ns: str) -> None:
        self.ns = ns

    def buf(self, d: str) -> str:
        return f"{self.ns}:buf:{d}"

    def retry(self, d: str) -> str:
        return f"{self.ns}:retry:{d}"

    def inflight(self, d: str) -> str:
        return f"{self.ns}:inflight:{d}"

    def dead(self, d: str) -> str:
        return f"{self.ns}:dead:{d}"

    def stats(self, d: str) -> str:
        return f"{self.ns}:stats:{d}"

    def drainers(self, d: str) -> str:
        return f"{self.ns}:drainers:{d}"

    def sample(self, d: str) -> str:
        """The newest delivered exchanges (router/exchanges.py), newest first, capped."""
        return f"{self.ns}:sample:{d}"

    def breaker(self, d: str) -> str:
        return f"{self.ns}:breaker:{d}"

    def busy(self, d: str) -> str:
        return f"{self.ns}:busy:{d}"

    def ready(self, d: str) -> str:
        return f"{self.ns}:ready:{d}"

    def held(self, d: str, user: str) -> str:
        return f"{self.ns}:held:{d}:{user}"

    @property
    def rejected(self) -> str:
        return f"{self.ns}:rejected"

    @property
    def ingest_stats(self) -> str:
        return f"{self.ns}:stats:_ingest"

    @property
    def suppressed(self) -> str:
        return f"{self.ns}:suppressed"

    def forgotten(self, uhash: str) -> str:
        return f"{self.ns}:forgotten:{uhash}"

    def regulation(self, reg_id: str) -> str:
        return f"{self.ns}:reg:{reg_id}"

    @property
    def regulations(self) -> str:
        return f"{self.ns}:regs"

    @property
    def ticker(self) -> str:
        return f"{self.ns}:ticker"


class DeliveryQueue:
    """All of the queue's Redis operations."""

    def __init__(
        self, client: redis.Redis, namespace: str, *, lease: float = 60.0, pickup: float = 300.0,
        retention: float = timeseries.DEFAULT_RETENTION, trace_cap: int = 100_000,
    ) -> None:
        self.redis = client
        #: how long the per-minute metrics are kept (``metrics: {retention: 7d}``)
        self.retention = retention
        #: at most this many event traces are kept (``trace: {max_events: ...}``; 0: none)
        self.trace_cap = trace_cap
        self.ns = namespace
        self.keys = Keys(namespace)
        self.lease_ms = int(lease * 1000)
        #: how long a freshly enqueued drain job may wait for a worker before another is enqueued
        self.pickup_ms = int(max(pickup, lease) * 1000)
        self._ingest = client.register_script(INGEST)
        self._push = client.register_script(PUSH)
        self._replay = client.register_script(REPLAY)
        self._claim = client.register_script(CLAIM)
        self._extend = client.register_script(EXTEND)
        self._settle = client.register_script(SETTLE)
        self._release = client.register_script(RELEASE)
        self._return = client.register_script(RETURN)
        self._tick = client.register_script(TICK)
        self._purge = client.register_script(PURGE)
        self._claim_ordered = client.register_script(CLAIM_ORDERED)
        self._settle_ordered = client.register_script(SETTLE_ORDERED)
        self._return_ordered = client.register_script(RETURN_ORDERED)
        self._tick_ordered = client.register_script(TICK_ORDERED)
        self._release_ordered = client.register_script(RELEASE_ORDERED)
        self._unhold = client.register_script(UNHOLD)

    # ingest --------------------------------------------------------------
    def ingest(
        self, source: str, items: Sequence[tuple[str | bytes, str, Sequence[str], str | bytes]], dedup_ttl: float,
        traces: Sequence[str] | None = None, replica_wait_ms: int = 0,
    ) -> tuple[list[str], list[tuple[str, str]]]:
        """Store accepted events in their destinations' buffers, in one round trip.

        ``items``: (messageId, user hash, destination names, envelope). Returns the
        per-item status (accepted / duplicate / suppressed) and the drain jobs to enqueue.
        ``traces``: each item's ``received`` trace entry (router/trace.py), or None for no traces.
        ``replica_wait_ms``: ``durability: replicated`` (see ``replicated``); 0: answer at once.
        """
        now = now_ms()
        minute = timeseries.minute_of(now)
        # observe: each distinct trace entry once, items refer to it by index (most requests have one or two)
        distinct: dict[str, int] = {}
        refs = [distinct.setdefault(t, len(distinct) + 1) for t in traces] if traces else [0] * len(items)
        args: list[Any] = [self.ns, now, int(dedup_ttl * 1000), source, self.pickup_ms,
                           minute, timeseries.expire_at(minute, self.retention), self.trace_cap if traces else 0,
                           len(distinct), *distinct]
        for k, (mid, uh, dests, env) in enumerate(items):
            args += [mid, uh, len(dests), *dests, env, refs[k]]
        if not replica_wait_ms:
            status, wake = self._ingest(args=args)
            return [s.decode() for s in status], _pairs(wake)
        try:
            status, wake = replicated(self._ingest, args, replica_wait_ms)
        except NotReplicated as exc:
            exc.wakes = _pairs(exc.result[1])
            raise
        return [s.decode() for s in status], _pairs(wake)

    def push(self, dest: str, envelopes: Sequence[str], *, front: bool = False) -> str:
        """Append envelopes to a buffer (replay, backfill); returns a drain token to enqueue, or ''."""
        tok = self._push(args=[self.ns, dest, now_ms(), self.pickup_ms, "1" if front else "0", *envelopes])
        return tok.decode() if isinstance(tok, bytes) else tok

    # drain ----------------------------------------------------------------
    def claim(
        self, dest: str, token: str, batch_id: str, size: int, concurrency: int, others: Sequence[str] = (),
        *, ordered: bool = False,
    ) -> Claimed:
        """Lease up to ``size`` envelopes; nothing while the destination's breaker is open.
        ``others``: the RQ queue keys of the other destinations, to tell whether one waits for a worker.
        ``ordered``: skip (hold) the events of users whose earlier events are in flight or retrying."""
        script, args = self._claim_call(dest, token, batch_id, size, concurrency, others, ordered)
        return self._claimed(batch_id, script(args=args))

    def _claim_call(self, dest: str, token: str, batch_id: str, size: int, concurrency: int, others: Sequence[str],
                    ordered: bool) -> tuple[Any, list[Any]]:
        args = [self.ns, dest, token, now_ms(), self.lease_ms, size, batch_id, concurrency, self.pickup_ms]
        if ordered:
            return self._claim_ordered, [*args, PER_USER, scan_limit(size), *others]
        return self._claim, [*args, *others]

    @staticmethod
    def _claimed(batch_id: str, got: Any) -> Claimed:
        items, spawn, open_until, waiting = got[:4]
        spawn = spawn.decode() if isinstance(spawn, bytes) else spawn
        # CLAIM joins the envelopes with byte 255 (never in UTF-8 JSON): one reply string to read
        items = items.split(b"\xff") if isinstance(items, bytes) else list(items)
        claimed = Claimed(batch_id, items, spawn, int(open_until), bool(waiting), len(got) > 4 and bool(got[4]))
        if len(got) > 6:
            flat = got[5]
            claimed.forgotten = {flat[k].decode(): int(flat[k + 1]) for k in range(0, len(flat), 2)}
            claimed.looked_up = int(got[6])
            claimed.clear = len(got) > 7 and bool(got[7])
        return claimed

    # GDPR -------------------------------------------------------------------
    def mark_forgotten(self, hashes: Sequence[str], stamp: int) -> None:
        """Record the users' delete time for FORGET_SECONDS: their older events are then dropped at
        claim and settle. The regulation is recorded first (ns:regs): CLAIM looks users up only
        while the newest one is recent enough for these keys to live."""
        pipe = self.redis.pipeline(transaction=False)
        for h in hashes:
            pipe.set(self.keys.forgotten(h), stamp, ex=FORGET_SECONDS)
        pipe.execute()

    def extend(self, dest: str, token: str, batch_id: str = "") -> None:
        self._extend(args=[self.ns, dest, token, batch_id, now_ms() + self.lease_ms])

    def settle(self, dest: str, batch_id: str, s: Settlement, dead_letter_ttl: float, breaker: Breaker = Breaker()) -> bool:
        """Apply one batch's outcomes (and its verdict to the breaker); False when the lease had
        expired and the batch was already returned."""
        done = (self._settle if s.ordered is None else self._settle_ordered)(args=self._settle_args(dest, batch_id, s, dead_letter_ttl, breaker))
        return self._settled(done, s)

    def settle_and_claim(
        self, dest: str, batch_id: str, s: Settlement, dead_letter_ttl: float, breaker: Breaker,
        token: str, next_id: str, size: int, concurrency: int, others: Sequence[str] = (), *, ordered: bool = False,
    ) -> tuple[bool, "Claimed | Exception"]:
        """``settle``, then ``claim`` the next batch, in one round trip: the claim runs after the
        settle (two scripts in one pipeline, no transaction: the claimed batch is leased as any).
        Returns what settle does and the claim, or the error that stopped the claim. Raises what
        stopped the settle, after giving back a batch the claim took all the same."""
        settle = self._settle if s.ordered is None else self._settle_ordered
        claim, claim_args = self._claim_call(dest, token, next_id, size, concurrency, others, ordered)
        pipe = self.redis.pipeline(transaction=False)
        # EVALSHA: a Script object in a pipeline would ask SCRIPT EXISTS first, a round trip of its own
        pipe.evalsha(settle.sha, 0, *self._settle_args(dest, batch_id, s, dead_letter_ttl, breaker))
        pipe.evalsha(claim.sha, 0, *claim_args)
        done, got = pipe.execute(raise_on_error=False)
        if isinstance(done, redis.exceptions.NoScriptError):  # a fresh server (failover): nothing was settled
            done = settle(args=self._settle_args(dest, batch_id, s, dead_letter_ttl, breaker))
        if isinstance(got, redis.exceptions.NoScriptError):
            got = claim(args=claim_args)
        if isinstance(done, Exception):
            if not isinstance(got, Exception):
                self.give_back(dest, next_id, ordered=ordered)
            raise done
        return self._settled(done, s), got if isinstance(got, Exception) else self._claimed(next_id, got)

    def _settle_args(self, dest: str, batch_id: str, s: Settlement, dead_letter_ttl: float, breaker: Breaker) -> list[Any]:
        now = now_ms()
        minute = timeseries.minute_of(now)
        args: list[Any] = [self.ns, dest, batch_id, now - int(dead_letter_ttl * 1000), now, Verdict(s.verdict).value,
                           breaker.failures, int(breaker.pause * 1000), int(breaker.max_pause * 1000)]
        args += [minute, timeseries.expire_at(minute, self.retention), len(s.metrics)]
        for name, n in s.metrics.items():
            args += [name, n]
        trace = s.trace if self.trace_cap else {}  # observe: traces off: no trace to append to
        args += [s.health, s.health_note, len(trace)]
        for entry, mids in trace.items():
            args += [entry, len(mids), *mids]
        args += [s.sample, s.sample_cap]
        args += [len(s.retry)]
        for due, env in s.retry:
            args += [due, env]
        args += [len(s.front), *s.front, len(s.dead), *s.dead, len(s.regulations)]
        for reg in s.regulations:
            args += reg
        if s.ordered is not None:
            o = s.ordered
            args += [len(o.held)]
            for user, envs in o.held.items():
                args += [user, str(o.busy[user]) if user in o.busy else "", len(envs), *envs]
            args += [len(o.dead)]
            for user, record in o.dead:
                args += [user, record]
        for name, n in s.counts.items():
            args += [name, n]
        return args

    @staticmethod
    def _settled(done: Any, s: Settlement) -> bool:
        if not done:
            return False
        s.health_change = (done[1].decode(), done[2].decode())
        return True

    def give_back(self, dest: str, batch_id: str, *, ordered: bool = False) -> int:
        """Return a claimed batch to the head of the buffer (ordered: of its users' held lists) now;
        the number of envelopes (0: already gone)."""
        return int((self._return_ordered if ordered else self._return)(args=[self.ns, dest, batch_id]))

    def release(self, dest: str, token: str, park_until_ms: int = 0, *, successor: bool = True, ordered: bool = False) -> str:
        """End a drain job: park its token until ``park_until_ms``, or hand out a successor
        token when events remain (unless ``successor`` is False: it yielded its worker)."""
        script = self._release_ordered if ordered else self._release
        tok = script(args=[self.ns, dest, token, now_ms(), park_until_ms, self.pickup_ms, "1" if successor else "0"])
        return tok.decode() if isinstance(tok, bytes) else tok

    # scheduler -------------------------------------------------------------
    def tick(self, dest: str, limit: int = 5000, *, ordered: bool = False) -> tuple[int, int, str]:
        """Move due retries back, return expired leases, wake a drainer. (moved, reaped, token)"""
        script = self._tick_ordered if ordered else self._tick
        moved, reaped, tok = script(args=[self.ns, dest, now_ms(), self.pickup_ms, limit])
        return int(moved), int(reaped), tok.decode() if isinstance(tok, bytes) else tok

    def unhold(self, dest: str) -> int:
        """A destination no longer ordered: its held events go back to the buffer (how many)."""
        return int(self._unhold(args=[self.ns, dest]))

    def held(self, dest: str) -> dict[str, int]:
        """Ordered destinations: users whose later events wait behind an earlier one, and users
        whose waiting events are next in line."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hlen(self.keys.busy(dest))
        pipe.scard(self.keys.ready(dest))
        marked, ready = pipe.execute()
        return {"busy_users": int(marked) - int(ready), "ready_users": int(ready)}

    def trim_dead(self, dests: Iterable[str], dead_letter_ttl: float) -> None:
        minid = now_ms() - int(dead_letter_ttl * 1000)
        pipe = self.redis.pipeline(transaction=False)
        for d in dests:
            pipe.xtrim(self.keys.dead(d), minid=minid, approximate=False)
        pipe.execute()

    # dead letters ----------------------------------------------------------
    def dead_letters(self, dest: str, *, since_ms: int = 0, until_ms: int | None = None, count: int | None = None,
                     newest_first: bool = False, before: str = "") -> list[tuple[str, dict[str, Any]]]:
        """Dead letters failed from ``since_ms`` through ``until_ms`` (ms, inclusive), at most ``count``;
        ``before``: only those older than that entry id (the next page, newest first)."""
        key = self.keys.dead(dest)
        last = "+" if until_ms is None else str(until_ms)  # a bare ms ends at that ms's last entry
        if before:
            if not any(int(part) for part in before.split("-")):
                return []  # nothing is older than 0-0 (Redis refuses the range "(0-0" as an error)
            last = f"({before}"
        if newest_first:
            entries = self.redis.xrevrange(key, last, f"{since_ms}-0", count=count)
        else:
            entries = self.redis.xrange(key, f"{since_ms}-0", last, count=count)
        return [(eid.decode(), json.loads(fields[b"d"])) for eid, fields in entries]

    def retrying(self, dest: str, count: int = 50) -> list[dict[str, Any]]:
        """Events waiting for their next attempt, soonest first, with why the last one failed."""
        out = []
        for raw, due in self.redis.zrange(self.keys.retry(dest), 0, count - 1, withscores=True):
            env = json.loads(raw)
            out.append({"id": env["id"], "next_attempt_at": int(due), "attempts": env["a"],
                        "first_attempt_at": env["f"], "last_error": env.get("l", ""), "event": env["e"]})
        return out

    def replay_dead(self, dest: str, entries: Sequence[tuple[str, str, str, str]], trace: str = "") -> tuple[list[str], str]:
        """Move dead letters (entry id, messageId, regulation id or '', envelope) back to the buffer in one step: only those
        still there, so concurrent replays and discards never double or lose one; ``trace``: the
        ``replayed`` entry for their traces ('' for none). (the entry ids moved, drain token)"""
        if not entries:
            return [], ""
        trace = trace if self.trace_cap else ""
        tok, *moved = self._replay(args=[self.ns, dest, now_ms(), self.pickup_ms, trace, *(x for one in entries for x in one)])
        return [m.decode() for m in moved], tok.decode() if isinstance(tok, bytes) else tok

    def delete_dead(self, dest: str, entry_ids: Sequence[str]) -> int:
        return int(self.redis.xdel(self.keys.dead(dest), *entry_ids)) if entry_ids else 0

    def purge_users(self, dest: str, hashes: Sequence[str]) -> int:
        """Remove the users' events from a destination (or, with dest '', from the ingest rejections)."""
        return int(self._purge(args=[self.ns, dest, *hashes])) if hashes else 0

    def depth(self, dest: str) -> dict[str, int]:
        pipe = self.redis.pipeline(transaction=False)
        pipe.llen(self.keys.buf(dest))
        pipe.zcard(self.keys.retry(dest))
        pipe.zcard(self.keys.inflight(dest))
        pipe.xlen(self.keys.dead(dest))
        pipe.hgetall(self.keys.stats(dest))
        pipe.hget(self.keys.breaker(dest), "until")
        pipe.hlen(self.keys.busy(dest))
        buffered, retrying, inflight, dead, stats, opened, marked = pipe.execute()
        out = {"buffered": buffered, "retrying": retrying, "inflight_batches": inflight, "dead_letters": dead,
               "breaker_open_until": int(opened or 0)}
        if marked:  # ordered: users whose oldest event is in flight, retrying, or whose held events are next
            out["ordered_users"] = int(marked)
        out.update({k.decode(): int(v) for k, v in stats.items()})
        return out


class NotReplicated(redis.RedisError):
    """``durability: replicated``: no replica confirmed the write in time. The events are on the
    master and may yet be delivered; the client's retry with the same messageIds is deduplicated."""

    def __init__(self, message: str, result: Any) -> None:
        super().__init__(message)
        #: the script's answer: its drain jobs are still enqueued (the events are on the master)
        self.result = result
        self.wakes: list[tuple[str, str]] = []


def replicated(script: Any, args: list[Any], wait_ms: int) -> Any:
    """Run ``script`` and ``WAIT 1 wait_ms`` in one round trip; raise NotReplicated (ingest answers
    503) unless a replica acknowledged everything this connection wrote, the script's writes included.

    EVALSHA rather than the Script object in a pipeline: that one asks SCRIPT EXISTS first on
    every call, a second round trip. A NOSCRIPT answer (a fresh master after a failover) wrote
    nothing; the script is loaded and the pair sent again."""
    for attempt in (0, 1):
        pipe = script.registered_client.pipeline(transaction=False)
        pipe.evalsha(script.sha, 0, *args)
        pipe.execute_command("WAIT", 1, wait_ms)
        result, acked = pipe.execute(raise_on_error=False)
        if isinstance(result, redis.exceptions.NoScriptError) and attempt == 0:
            script.registered_client.script_load(script.script)
            continue
        if isinstance(result, Exception):
            raise result
        if isinstance(acked, Exception):
            raise acked
        if int(acked) < 1:
            raise NotReplicated(f"no replica acknowledged the write within {wait_ms} ms", result)
        return result
    raise AssertionError("unreachable")


def _pairs(flat: Sequence[bytes]) -> list[tuple[str, str]]:
    return [(flat[i].decode(), flat[i + 1].decode()) for i in range(0, len(flat), 2)]
