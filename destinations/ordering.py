"""A user's calls reach the vendor in the order the router received them.

Batch APIs want one request per endpoint; a user wants their profile written
before the events about it, and their latest identify to be the one that
sticks. A batch is therefore cut into *steps*: each step is one kind of call
(one endpoint) and becomes that kind's request(s). Kinds have a fixed order
(profiles first, then events), and an item goes to the earliest step that
keeps it behind everything of its user that it must follow:

- a profile write (an identify) follows its user's earlier profile writes;
- an event follows its user's earlier profile writes. It may go after a later
  identify of its user (the vendors store events only for customers that
  exist, so that helps); events of different kinds don't wait for each other;
- a delete follows every earlier call of its user, and everything after it
  follows the delete: nothing reaches an erased customer by overtaking.

A batch of several users and kinds needs one step per kind; a customer who is
deleted and identified again in one batch gets a second profile step.

Items of one user in the same profile step are merged into one record by the
destination (:func:`merge_units`), so no request carries an older and a newer
version of one customer. When one of a user's calls is to be retried, their
later calls in the batch are held back with it instead of overtaking it. When a
profile write is rejected at a vendor that keeps events only for existing
profiles (``Kinds.need_profile``), the user's later events are rejected with it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterable, Iterator, Mapping, Sequence

from destinations.base import Call, Outcome, OutcomeStatus, Prepared, send_calls
from destinations.mapping import first

UserKey = tuple[str, str]
Position = tuple[int, int]

#: where the same person shows up on different calls
EMAIL_PATHS = ("traits.email", "context.traits.email", "properties.email")


def user_keys(event: Mapping[str, Any]) -> frozenset[UserKey]:
    """Everything that names this event's person: userId, anonymousId, email (case-insensitive)."""
    keys: set[UserKey] = set()
    for field in ("userId", "anonymousId"):
        value = event.get(field)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
            keys.add((field, str(value)))
    email = first(event, EMAIL_PATHS)
    if isinstance(email, str) and email.strip():
        keys.add(("email", email.strip().lower()))
    return frozenset(keys)


def people(batch: Sequence[Prepared]) -> list[int]:
    """A person number per item: items that share a userId, anonymousId or email, directly or
    through other items of the batch, are one person."""
    parent = list(range(len(batch)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[UserKey, int] = {}
    for i, item in enumerate(batch):
        for key in user_keys(item.event):
            if key in owner:
                parent[root(i)] = root(owner[key])
            else:
                owner[key] = i
    return [root(i) for i in range(len(batch))]


@dataclass
class Step:
    """One kind of call for some items of the batch, in received order."""

    kind: Hashable
    indexes: list[int]


@dataclass(frozen=True)
class Kinds:
    """A destination's kinds of call: ``order`` is the order of a batch's requests; ``profile``
    kinds write a profile (an identify, a delete); ``final`` ones (a delete) also wait for every
    earlier call of their user, since nothing may reach a customer after it is erased."""

    order: tuple[Hashable, ...]
    profile: frozenset[Hashable]
    final: frozenset[Hashable] = frozenset()
    #: kinds the vendor stores only for an existing profile: when a user's profile write is
    #: rejected, their later calls of these kinds in the batch are rejected with it
    need_profile: frozenset[Hashable] = frozenset()

    def waits_for_all(self, kind: Hashable) -> bool:
        return kind in self.final


def plan_steps(batch: Sequence[Prepared], kind_of: Callable[[Prepared], Hashable], kinds: Kinds) -> list[Step]:
    """The steps of a batch: each item in the earliest step after what it must follow."""
    rank = {kind: n for n, kind in enumerate(kinds.order)}
    # person -> the latest step of any of their calls / of their profile writes
    after_any: dict[int, Position] = {}
    after_profile: dict[int, Position] = {}
    steps: dict[Position, Step] = {}
    for i, (item, person) in enumerate(zip(batch, people(batch))):
        kind = kind_of(item)
        r = rank[kind]
        table = after_any if kinds.waits_for_all(kind) else after_profile
        bound = table.get(person, (0, -1))
        # same level when this kind's request comes after the bound's (or is the bound's own request)
        pos = (bound[0], r) if r >= bound[1] else (bound[0] + 1, r)
        after_any[person] = max(after_any.get(person, pos), pos)
        if kind in kinds.profile:
            after_profile[person] = max(after_profile.get(person, pos), pos)
        steps.setdefault(pos, Step(kind, [])).indexes.append(i)
    return [steps[pos] for pos in sorted(steps)]


def held(cause: Outcome) -> Outcome:
    """An item that waits for an earlier call of its user to be retried; no attempt used."""
    return Outcome(
        OutcomeStatus.RETRY,
        f"held behind an earlier call of the same user: {cause.reason}",
        retry_after=cause.retry_after,
        counts_as_attempt=False,
    )


def refused(cause: Outcome) -> Outcome:
    """An item whose user's profile write was rejected, at a vendor that drops events of unknown
    profiles: holding it would never end, sending it would lose it."""
    return Outcome(OutcomeStatus.REJECTED, f"its contact was refused: {cause.reason}")


def send_in_order(
    batch: Sequence[Prepared],
    steps: Sequence[Step],
    requests: Callable[[Hashable, list[int]], Iterable[Call]],
    kinds: Kinds,
) -> list[Outcome]:
    """Make each step's requests (``requests(kind, indexes)``) in order. When a user's call is to
    be retried, what follows it in :func:`plan_steps` waits with it instead of overtaking it."""
    outcomes: list[Outcome | None] = [None] * len(batch)
    person = people(batch)

    def calls() -> Iterator[Call]:
        # person -> the retry their later calls wait behind: any call of theirs / a profile write
        after_any: dict[int, Outcome] = {}
        after_profile: dict[int, Outcome] = {}

        def note(i: int, cause: Outcome, kind: Hashable) -> None:
            after_any.setdefault(person[i], cause)
            if kind in kinds.profile:
                after_profile.setdefault(person[i], cause)

        # person -> the first rejected profile write (its index, its outcome)
        rejected: dict[int, tuple[int, Outcome]] = {}
        sent: list[int] = []
        sent_kind: Hashable = None
        for step in steps:
            # the requests of earlier steps are settled by now: note whose calls will be retried
            for i in sent:
                outcome = outcomes[i]
                if outcome is not None and outcome.status is OutcomeStatus.RETRY:
                    note(i, outcome, sent_kind)
                elif (outcome is not None and outcome.status is OutcomeStatus.REJECTED
                      and sent_kind in kinds.profile and not kinds.waits_for_all(sent_kind)):
                    rejected.setdefault(person[i], (i, outcome))
            waits = after_any if kinds.waits_for_all(step.kind) else after_profile
            sent, sent_kind = [], step.kind
            for i in step.indexes:
                cause = waits.get(person[i])
                refusal = rejected.get(person[i]) if step.kind in kinds.need_profile else None
                if refusal is not None and refusal[0] < i:
                    outcomes[i] = refused(refusal[1])
                elif cause is None:
                    sent.append(i)
                else:
                    outcomes[i] = held(cause)
                    note(i, cause, step.kind)
            if sent:
                yield from requests(step.kind, sent)

    return send_calls(len(batch), calls(), outcomes)


def same_customer(
    names: Callable[[Any], tuple[Hashable | None, Sequence[Hashable]]],
) -> Callable[[Any], int | None]:
    """A ``key_of`` for :func:`merge_units` (call it in received order, one per step) that gives the
    profile writes of one customer the same key. ``names(payload)`` is the payload's own id (the
    vendor's external id) or None, and the other keys naming it (email, phone), first the one that
    counts most. Two payloads are one customer when they have the same id, or when one has no id
    and they share a name: an identify before login and one after. Payloads with different ids
    are never one, whatever email they share."""
    ids: list[Hashable | None] = []  # per customer: its id, when a payload gave one
    known: list[set[Hashable]] = []  # per customer: the names its payloads gave

    def key_of(payload: Any) -> int | None:
        own, mine = names(payload)
        if own is None and not mine:
            return None
        found = ids.index(own) if own is not None and own in ids else None
        for name in mine:
            if found is not None:
                break
            # the latest customer this name names, unless it has another id
            found = next((n for n in reversed(range(len(ids)))
                          if name in known[n] and (own is None or ids[n] is None)), None)
        if found is None:
            ids.append(None)
            known.append(set())
            found = len(ids) - 1
        ids[found] = ids[found] if ids[found] is not None else own
        known[found].update(mine)
        return found

    return key_of


def merge_units(
    indexes: Sequence[int],
    payloads: Callable[[int], Any],
    key_of: Callable[[Any], Hashable | None],
    merge: Callable[[Any, Any], Any],
) -> list[tuple[list[int], Any]]:
    """One record per customer: the payloads with the same key merged in received order
    (``merge(older, newer)``), in the order customers first appear. A payload without a key
    stands alone."""
    units: dict[Hashable, tuple[list[int], Any]] = {}
    for i in indexes:
        payload = payloads(i)
        key = key_of(payload)
        if key is None:
            units[("alone", i)] = ([i], payload)
        elif key in units:
            members, older = units[key]
            units[key] = (members + [i], merge(older, payload))
        else:
            units[key] = ([i], payload)
    return list(units.values())


def spread(units: Sequence[tuple[list[int], Any]], result: Outcome | list[Outcome] | None) -> Outcome | list[Outcome] | None:
    """A request's answer per unit, as one per item of those units."""
    if result is None or isinstance(result, Outcome):
        return result
    return [outcome for (members, _), outcome in zip(units, result) for _ in members]


def members(units: Sequence[tuple[list[int], Any]]) -> list[int]:
    return [i for indexes, _ in units for i in indexes]
