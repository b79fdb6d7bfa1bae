"""The config's value types: durations, rates, the breaker, filters and transforms.

Each is a marshmallow field that turns what people write (``30s``, ``50/s``,
``module:function``) into the object the router uses, or an error that says
what was expected."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from marshmallow import ValidationError, fields

from destinations.base import parse_rate
from router.filters import FilterError, Filters, compile_filters
from router.queue import Breaker
from router.transforms import Transform, load_transform

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> float:
    """Seconds from ``30``, ``"30s"``, ``"5m"``, ``"4h"``, ``"7d"``, ``"500ms"``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value) if abs(value) < 1e300 else math.inf  # a huge int would overflow float()
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 4h, 7d)")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    # YAML's -5, .nan and .inf are numbers too: none is a time to wait or keep something for
    if not 0 <= seconds < math.inf:
        raise ValueError(f"not a duration: {value!r} (a finite number of seconds, 0 or more; e.g. 30s, 5m, 4h, 7d)")
    return seconds


@dataclass(frozen=True)
class RateLimit:
    """``N`` requests per ``period`` seconds."""

    count: float
    period: float

    @classmethod
    def parse(cls, value: str) -> "RateLimit":
        return cls(*parse_rate(value))

    @property
    def per_second(self) -> float:
        return self.count / self.period


class Duration(fields.Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> float:
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class BreakerField(fields.Field):
    """``breaker: {failures: 1, pause: 5s, max_pause: 2m}``: the destination's circuit breaker
    (router/queue.py), which stops claiming batches for a vendor that does not answer."""

    LIMITS = {"failures": (1, 1000), "pause": (0.1, 86400.0), "max_pause": (0.1, 86400.0)}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> Breaker:
        if not isinstance(value, Mapping):
            raise ValidationError("a mapping with failures, pause and max_pause")
        errors: dict[str, list[str]] = {k: ["unknown key"] for k in value if k not in self.LIMITS}
        got: dict[str, float] = {}
        for key, (low, high) in self.LIMITS.items():
            if key not in value:
                continue
            raw = value[key]
            try:
                if key == "failures":
                    if isinstance(raw, bool) or not isinstance(raw, int):
                        raise ValueError(f"not a whole number: {raw!r}")
                    number = float(raw)
                else:
                    number = parse_duration(raw)
            except ValueError as exc:
                errors[key] = [str(exc)]
                continue
            if not low <= number <= high:
                errors[key] = [f"must be between {low:g} and {high:g}"]
            got[key] = number
        if errors:
            raise ValidationError(errors)
        pause = got.get("pause", Breaker.pause)
        return Breaker(int(got.get("failures", Breaker.failures)), pause, max(pause, got.get("max_pause", Breaker.max_pause)))


class FiltersField(fields.Field):
    """``filters:`` (router/filters.py), compiled once; each error keeps its key path."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> Filters:
        try:
            return compile_filters(value)
        except FilterError as exc:
            raise ValidationError(exc.errors) from None


class TransformField(fields.Field):
    """``transform: module:function``, imported now so that a bad path stops the start, not a delivery."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> tuple[str, Transform]:
        try:
            return value, load_transform(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class Rate(fields.Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> RateLimit:
        try:
            return RateLimit.parse(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
