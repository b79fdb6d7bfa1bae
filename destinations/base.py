"""The contract every destination implements.

A destination is a package with three parts: ``settings`` (a marshmallow
schema, secrets marked), a pure ``mapper`` (Segment event -> vendor payload,
no I/O) and a ``client`` (all HTTP). The class that ties them together
subclasses :class:`Destination` and declares the rest as data.

The delivery engine calls, for each batch it drained from Redis:

1. ``map(event)`` once per event (events are already renamed by the
   instance's ``events.rename``); ``RejectedEvent`` / ``SkippedEvent`` become
   that event's outcome without any I/O;
2. ``send(batch)`` with the mapped ones, which returns one :class:`Outcome`
   per item, in order.

Delete (GDPR) is an ordinary event of type ``"delete"``: a destination that
can delete lists it in ``handles`` and maps it like any other event.
"""
from __future__ import annotations

import dataclasses
import difflib
import enum
import re
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, ClassVar, Iterable, Mapping, Sequence

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from destinations.errors import DeliveryError, RejectedEvent, RetryableError, SkippedEvent, Throttled
from destinations.recording import recorded

EVENT_TYPES = frozenset({"identify", "track", "page", "screen", "group", "alias", "delete"})

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/|\s+per\s+)\s*([a-z]+)\s*$", re.IGNORECASE)
_PERIODS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
}
#: said when a rate limit is not understood
RATE_FORMS = "N/second, N/minute or N/hour; also N/s, N/sec, N/m, N/min, N/h, N/hr and 'N per minute'"


def parse_rate(value: str) -> tuple[float, float]:
    """``"10/second"`` -> (10.0, 1.0): how many requests per how many seconds. A plugin's
    ``default_rate_limit`` and the config's ``rate_limit`` use this one format."""
    m = _RATE.match(str(value))
    period = _PERIODS.get(m.group(2).lower()) if m else None
    if not m or period is None or float(m.group(1)) <= 0:
        raise ValueError(f"not a rate limit: {value!r} (accepted: {RATE_FORMS})")
    return float(m.group(1)), float(period)


class OutcomeStatus(str, enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"
    SKIPPED = "skipped"


@dataclass
class Outcome:
    """What happened to one event at one destination."""

    status: OutcomeStatus
    reason: str = ""
    http_status: int | None = None
    response: str | None = None
    retry_after: float | None = None
    #: False for our own throttling: the event waits but no attempt is used up.
    counts_as_attempt: bool = True
    #: the HTTP exchanges of the vendor call that carried the event (destinations/recording.py);
    #: unredacted: the host redacts before it stores them
    exchanges: list[dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def delivered(cls, http_status: int | None = None, response: str | None = None) -> "Outcome":
        return cls(OutcomeStatus.DELIVERED, http_status=http_status, response=response)

    @classmethod
    def from_error(cls, exc: DeliveryError) -> "Outcome":
        if isinstance(exc, RetryableError):
            return cls(
                OutcomeStatus.RETRY,
                exc.reason,
                exc.status,
                exc.response,
                exc.retry_after,
                counts_as_attempt=not isinstance(exc, Throttled),
            )
        if isinstance(exc, SkippedEvent):
            return cls(OutcomeStatus.SKIPPED, exc.reason, exc.status, exc.response)
        return cls(OutcomeStatus.REJECTED, exc.reason, exc.status, exc.response)


@dataclass
class Prepared:
    """One event and what the mapper made of it."""

    event: dict[str, Any]
    payload: Any


def unknown_key_message(key: str, known: Iterable[str]) -> str:
    """``unknown key; did you mean shared_secret?`` (or the keys to choose from, when none is close)."""
    known = sorted(known)
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean {close[0]}?"
    return f"unknown key (known: {', '.join(known) or 'none'})"


class StrictSchema(Schema):
    """A schema that refuses keys it does not know, naming the nearest known one.

    A misspelled setting must not be dropped silently (``shared_secrt`` would send
    webhooks unsigned). The check is a schema validator rather than marshmallow's
    ``unknown = RAISE`` so that it runs alongside the field errors, not instead of them,
    and can suggest the key that was meant."""

    class Meta:
        unknown = EXCLUDE

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _no_unknown_keys(self, data: Any, original_data: Any = None, **kw: Any) -> None:
        if not isinstance(original_data, Mapping):
            return
        known = {f.data_key or name for name, f in self.fields.items() if not f.dump_only}
        errors = {k: [unknown_key_message(k, known)] for k in original_data if k not in known}
        if errors:
            raise ValidationError(errors)


class BaseSettings(StrictSchema):
    """Settings every destination accepts. Subclass it; mark secrets with ``metadata={"secret": True}``."""

    def warnings(self, settings: dict[str, Any]) -> list[str]:
        """What these (valid) settings mean a whole kind of event cannot be delivered, said at start-up."""
        return []

    base_url = fields.Url(
        require_tld=False,
        load_default=None,
        metadata={"description": "the vendor's API host (tests and proxies point it elsewhere)"},
    )
    timeout = fields.Float(
        load_default=10.0,
        validate=validate.Range(min=0.1, max=120),
        metadata={"description": "seconds to wait for the vendor's answer (connect: at most 3.05)"},
    )


def secret_values(schema: Schema, settings: dict[str, Any]) -> list[str]:
    """The values of the settings marked secret: what must never be logged or stored.

    A secret mapping (e.g. extra HTTP headers, where ``Authorization: Bearer ...`` goes) or list
    (a key and the next one) counts every one of its values as a secret; a nested schema's own
    secret fields count too (a password inside an ``auth`` setting)."""
    values: list[str] = []
    for name, fld in schema.fields.items():
        value = settings.get(name)
        if not value:
            continue
        if fld.metadata.get("secret"):
            values.extend(_leaves(value))
            continue
        inner = fld.inner if isinstance(fld, fields.List) else fld
        if isinstance(inner, fields.Nested) and isinstance(inner.schema, Schema):
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(item, Mapping):
                    values.extend(secret_values(inner.schema, item))
    return values


def _leaves(value: Any) -> list[str]:
    """Each non-empty scalar in ``value``, as text: the secrets a mapping or list holds."""
    if isinstance(value, Mapping):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _leaves(v)]
    return [str(value)] if value else []


class Destination:
    """Base class of a destination plugin. Subclasses declare the class attributes."""

    #: the ``type:`` in the config
    slug: ClassVar[str]
    #: the name in the ``integrations`` object, e.g. "Extole Platform"
    display_name: ClassVar[str]
    #: other names the ``integrations`` object may use
    aliases: ClassVar[tuple[str, ...]] = ()
    #: event types this destination can deliver
    handles: ClassVar[frozenset[str]]
    settings_schema: ClassVar[type[Schema]] = BaseSettings
    #: the most events one drain batch may carry (the vendor's limit)
    max_batch_size: ClassVar[int] = 100
    default_batch_size: ClassVar[int] = 100
    #: "N/second|minute|hour", or None for no limit
    default_rate_limit: ClassVar[str | None] = None
    #: vendors that limit some endpoints separately: bucket name -> limit. The client names
    #: the bucket a request draws from (``http.request(..., bucket="event")``); others use the default
    rate_limits: ClassVar[dict[str, str]] = {}
    #: ``map`` is the identity and ``send`` reads only payloads, which it may JSON-encode with orjson:
    #: the delivery engine then hands it each stored event as an ``orjson.Fragment`` (its JSON text,
    #: never parsed) when nothing else (filters, transform, renames) is to change it
    passthrough: ClassVar[bool] = False

    def __init__(self, settings: dict[str, Any], *, throttle: Callable[..., None] | None = None) -> None:
        self.settings = settings
        #: called before every HTTP request (with a bucket name, or none); raises ``Throttled``
        #: when the shared rate limit is spent
        self.throttle = throttle or (lambda bucket=None: None)

    @classmethod
    def supports_delete(cls) -> bool:
        return "delete" in cls.handles

    def map(self, event: dict[str, Any]) -> Any:
        """Turn one Segment event into this vendor's payload. Pure; raises RejectedEvent/SkippedEvent."""
        raise NotImplementedError

    def tally(self, payload: Any) -> dict[str, int]:
        """Counters a mapped event adds to this destination's stats once it is delivered (e.g. traits left out)."""
        return {}

    def send(self, batch: Sequence[Prepared]) -> list[Outcome]:
        """Deliver mapped events; one outcome per item, in order.

        The default sends one request per event with :meth:`send_one`. Batch
        APIs override this with :func:`send_calls` over their own requests.
        """
        return send_calls(len(batch), (([i], partial(self.send_one, item)) for i, item in enumerate(batch)))

    def send_one(self, item: Prepared) -> Outcome | None:
        """Deliver one mapped event; raise a DeliveryError subclass on failure."""
        raise NotImplementedError


def not_attempted(cause: RetryableError | Outcome) -> Outcome:
    """For events left in a batch after the vendor failed (an error, or a retry outcome):
    they wait, without using up an attempt."""
    return Outcome(
        OutcomeStatus.RETRY,
        f"not attempted: {cause.reason}",
        retry_after=cause.retry_after,
        counts_as_attempt=False,
    )


#: one vendor request: the indexes of the batch items it carries, and what makes it
#: (one outcome for them all, a list of one per item, or None for "delivered")
Call = tuple[list[int], Callable[[], "Outcome | list[Outcome] | None"]]


def send_calls(size: int, calls: Iterable[Call], outcomes: list[Outcome | None] | None = None) -> list[Outcome]:
    """Make a batch's vendor requests in order and give each of ``size`` items its outcome.

    A refused request settles only its own items. A request that failed as a
    whole and is to be retried (the vendor is down or busy, our own rate limit
    is spent), or a call that itself held items back, stops the batch: the
    items not yet sent wait behind it without using up an attempt. A retry of
    single records inside a request (a per-record status) does not.

    ``outcomes`` (``size`` Nones) lets a calls generator see what the requests
    before it did, and settle items it holds back itself (see ordering.py).
    """
    if outcomes is None:
        outcomes = [None] * size
    for indexes, call in calls:
        stop = False
        exchanges: list[dict[str, Any]] = []
        try:
            result = recorded(call, exchanges)
        except DeliveryError as exc:
            result = Outcome.from_error(exc)
            stop = isinstance(exc, RetryableError)
        if result is None:
            result = Outcome.delivered()
        if not (isinstance(result, Outcome) or isinstance(result, list) and all(isinstance(o, Outcome) for o in result)):
            raise TypeError(f"a request's call returned {type(result).__name__}: send_one (or a send_calls call) returns "
                            "an Outcome, a list of one Outcome per item it carries, or None for delivered")
        results = [result] * len(indexes) if isinstance(result, Outcome) else list(result)
        if len(results) != len(indexes):
            raise RuntimeError(f"a request returned {len(results)} outcomes for {len(indexes)} items")
        if exchanges:
            results = _with_exchanges(results, exchanges)
        for i, outcome in zip(indexes, results):
            outcomes[i] = outcome
        held = any(o.status is OutcomeStatus.RETRY and not o.counts_as_attempt for o in results)
        if stop or held:
            cause = next(o for o in results if o.status is OutcomeStatus.RETRY)
            return [o or not_attempted(cause) for o in outcomes]
    missing = [i for i, o in enumerate(outcomes) if o is None]
    if missing:
        raise RuntimeError(f"no request carried items {missing}")
    return outcomes  # type: ignore[return-value]


def _with_exchanges(results: list[Outcome], exchanges: list[dict[str, Any]]) -> list[Outcome]:
    """The call's outcomes carrying its exchanges: one copy per distinct outcome (a batch call
    usually gives all its items the same one), not one per item."""
    first = results[0] if results else None
    if all(o is first for o in results):
        return [dataclasses.replace(first, exchanges=exchanges)] * len(results) if first else []
    copies: dict[int, Outcome] = {}
    out = []
    for o in results:
        copy = copies.get(id(o))
        if copy is None:
            copy = copies[id(o)] = dataclasses.replace(o, exchanges=exchanges)
        out.append(copy)
    return out


def group_by(batch: Sequence[Prepared], key: Callable[[Prepared], Any]) -> dict[Any, list[int]]:
    """Indexes of ``batch`` grouped by ``key(item)``, keeping first-seen order."""
    groups: dict[Any, list[int]] = {}
    for i, item in enumerate(batch):
        groups.setdefault(key(item), []).append(i)
    return groups


def require(condition: Any, reason: str) -> None:
    """Reject the event with ``reason`` unless ``condition`` holds."""
    if not condition:
        raise RejectedEvent(reason)


__all__ = [
    "EVENT_TYPES",
    "RATE_FORMS",
    "parse_rate",
    "BaseSettings",
    "StrictSchema",
    "Destination",
    "Outcome",
    "OutcomeStatus",
    "Prepared",
    "group_by",
    "not_attempted",
    "send_calls",
    "require",
    "secret_values",
    "unknown_key_message",
]
