"""The plugin kit: everything a destination plugin needs, in one import, none of it the host.

    from destinations.kit import (BaseSettings, Destination, HttpClient, Outcome, Prepared,
                                  RejectedEvent, RetryableError, pick)

- the contract: :class:`Destination` (class attributes as data, ``map``, ``send``/``send_one``),
  :class:`BaseSettings` (a strict marshmallow schema; mark secrets), :class:`Outcome`;
- the error classes that decide what happens to an event: ``RetryableError`` (later),
  ``RejectedEvent`` (dead letter, with the reason), ``SkippedEvent`` (nothing to do), ``Throttled``;
- :class:`HttpClient`: one session, timeouts, the shared rate limit, 408/429/5xx -> retry;
- field tables: ``pick(event, {"email": ("traits.email", "context.traits.email")})``;
- batches: ``send_calls``, ``group_by``; vendor commands: ``Host``, ``pass_host``;
- for tests: ``destinations.kit.testing.ContractTests`` and ``destinations.kit.fakes.FakeServer``.
"""
from __future__ import annotations

from destinations.base import (
    EVENT_TYPES,
    BaseSettings,
    Destination,
    Outcome,
    OutcomeStatus,
    Prepared,
    StrictSchema,
    group_by,
    not_attempted,
    require,
    send_calls,
)
from destinations.errors import DeliveryError, HostError, RejectedEvent, RetryableError, SkippedEvent, Throttled
from destinations.host import Host, pass_host
from destinations.http import HttpClient, excerpt
from destinations.mapping import FieldTable, first, get_path, pick, traits

__all__ = [
    "EVENT_TYPES", "BaseSettings", "Destination", "Outcome", "OutcomeStatus", "Prepared", "StrictSchema",
    "group_by", "not_attempted", "require", "send_calls",
    "DeliveryError", "HostError", "RejectedEvent", "RetryableError", "SkippedEvent", "Throttled",
    "Host", "pass_host", "HttpClient", "excerpt", "FieldTable", "first", "get_path", "pick", "traits",
]
