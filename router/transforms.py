"""What a destination does to an event before its mapper: filters, then the transform.

``transform: package.module:function`` names a Python callable, imported when
the config is loaded (a bad path is a config error), called in the worker
with a copy of the event. It returns the event (changed or not), a list of
events, or None (or ``[]``) to drop it; events are JSON (a set or another
object in one rejects it), and not deletes (a delete call is how a user is erased). An exception rejects the event: its
dead letter keeps the traceback summary. Trusted code only: it runs inside
the worker process with the worker's rights, and a slow transform slows that
destination's deliveries. ``sys.exit()`` in it rejects the event like any exception.

Deletes (GDPR) pass through neither: a filter or a transform must never keep
a user's erasure from a vendor.
"""
from __future__ import annotations

import copy
import importlib
import json
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from destinations.base import Outcome, OutcomeStatus, Prepared, not_attempted
from router.errors import FOREIGN_FAULTS
from router.filters import Filters

Transform = Callable[[dict[str, Any]], Any]
#: frames of a transform's traceback kept in its dead letter
TRACEBACK_FRAMES = 5


def load_transform(path: Any) -> Transform:
    """The callable at ``module:function`` (``module:Class.method`` too). Raises ValueError saying what is wrong."""
    if not isinstance(path, str) or path.count(":") != 1 or not all(path.split(":")):
        raise ValueError(f"not a callable path: {path!r} (write module:function, e.g. mytransforms:scrub)")
    module_name, attr = path.split(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except FOREIGN_FAULTS as exc:  # ImportError, or the module failed (or exited: a script) while importing
        raise ValueError(f"cannot import {module_name}: {type(exc).__name__}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{module_name} has no {attr}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{path} is not callable")
    return obj


@dataclass
class Staged:
    """An event after its destination's filters and transform: the events to map, or the outcome that ends it."""

    events: list[dict[str, Any]] = field(default_factory=list)
    #: set when nothing is to be mapped: dropped (SKIPPED, reason "filtered: ...") or rejected by the transform
    outcome: Outcome | None = None
    #: what the filters and the transform did, one line each (the event tester shows them)
    notes: list[str] = field(default_factory=list)

    @property
    def filtered(self) -> bool:
        return self.outcome is not None and self.outcome.status is OutcomeStatus.SKIPPED


def filtered(reason: str) -> Outcome:
    return Outcome(OutcomeStatus.SKIPPED, f"filtered: {reason}")


def stage(event: dict[str, Any], filters: Filters | None, transform: Transform | None,
          transform_name: str = "transform") -> Staged:
    """Run the filters, then the transform (Segment applies destination filters before insert functions)."""
    if event.get("type") == "delete" or (filters is None and transform is None):
        return Staged([event])
    notes: list[str] = []
    if filters is not None:
        verdict = filters.apply(event)
        notes += verdict.applied
        if verdict.event is None:
            return Staged([], filtered(verdict.reason), notes)
        event = verdict.event
    if transform is None:
        return Staged([event], None, notes)
    try:
        result = transform(copy.deepcopy(event))
    except FOREIGN_FAULTS as exc:  # sys.exit() in it would end the drain job, its batch leased, again and again
        summary = "".join(traceback.format_exception(exc, limit=-TRACEBACK_FRAMES)).strip()
        reason = f"transform {transform_name} raised {type(exc).__name__}: {exc}"
        notes.append(reason)
        return Staged([], Outcome(OutcomeStatus.REJECTED, reason, response=summary), notes)
    events = [result] if isinstance(result, dict) else result
    if events is None or events == []:
        reason = f"transform {transform_name} returned {'None' if events is None else 'no events'}"
        notes.append(reason)
        return Staged([], filtered(reason), notes)
    if not isinstance(events, list) or not all(isinstance(e, dict) and isinstance(e.get("type"), str) for e in events):
        reason = (f"transform {transform_name} returned {type(result).__name__}; expected an event "
                  f"(a dict with a type), a list of events, or None")
        notes.append(reason)
        return Staged([], Outcome(OutcomeStatus.REJECTED, reason), notes)
    if any(e["type"] == "delete" for e in events):
        # a GDPR delete comes as a delete call: the router then forgets the user and tracks the
        # regulation; one a transform made would erase at the vendor with neither
        reason = f"transform {transform_name} returned a delete; send a delete call to erase a user"
        notes.append(reason)
        return Staged([], Outcome(OutcomeStatus.REJECTED, reason), notes)
    try:  # a set, NaN or a lone surrogate in an event would fail its whole batch's send, not just this event
        json.dumps(events, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
        why = ("a lone UTF-16 surrogate" if isinstance(exc, UnicodeEncodeError) else f"{type(exc).__name__}: {exc}")
        reason = f"transform {transform_name} returned an event JSON can't carry ({why})"
        notes.append(reason)
        return Staged([], Outcome(OutcomeStatus.REJECTED, reason), notes)
    notes.append(f"transform {transform_name} returned {len(events)} event{'s' if len(events) != 1 else ''}")
    return Staged(events, None, notes)


def send_in_parts(send: Callable[[list[Prepared]], list[Outcome]], batch: list[Prepared], size: int) -> list[Outcome]:
    """Send in parts of ``size`` (the destination's batch_size): a transform that makes several events
    of one can make more than a batch, and one request must not carry more than the destination takes.
    Once a part is to be retried, the parts after it wait unsent, as the rest of a batch does (send_calls)."""
    outcomes: list[Outcome] = []
    for start in range(0, len(batch), size):
        got = send(batch[start:start + size])
        outcomes += got
        retry = next((o for o in got if o.status is OutcomeStatus.RETRY), None)
        if retry is not None:
            return outcomes + [not_attempted(retry) for _ in batch[start + size:]]
    return outcomes


def combine(outcomes: list[Outcome]) -> Outcome:
    """One event's outcome when its transform made several: a retry retries them all (at least once,
    as everywhere), else a rejection names each refused one, else delivered (or skipped when all were)."""
    if len(outcomes) == 1:
        return outcomes[0]
    for status in (OutcomeStatus.RETRY, OutcomeStatus.REJECTED):
        bad = [(i, o) for i, o in enumerate(outcomes) if o.status is status]
        if bad:
            first = bad[0][1]
            reason = "; ".join(f"event {i + 1} of {len(outcomes)}: {o.reason}" for i, o in bad)
            return Outcome(status, reason, first.http_status, first.response, first.retry_after,
                           counts_as_attempt=any(o.counts_as_attempt for _, o in bad))
    if all(o.status is OutcomeStatus.SKIPPED for o in outcomes):
        return Outcome(OutcomeStatus.SKIPPED, "; ".join(o.reason for o in outcomes))
    delivered = next(o for o in outcomes if o.status is OutcomeStatus.DELIVERED)
    return delivered
