"""The error classes a destination plugin raises. The class decides what happens next:

- ``RetryableError``: the destination may accept the event later (429, 5xx,
  timeouts); delivery retries it with backoff inside the retry window.
- ``Throttled``: our own rate limiter said "not now"; retried without counting
  an attempt.
- ``RejectedEvent``: the event can never be delivered as it is (a mapping
  error, a vendor 4xx); it goes to the dead letters with its reason.
- ``SkippedEvent``: the destination has nothing to do for this event by
  design (an unmapped event type); counted, not an error.
- ``HostError``: a vendor command asked the host for something it could not give
  (no usable config, a destination that is not there).

They live here, not in router/, so that a plugin depends on the kit only;
router/errors.py re-exports them for the host.
"""
from __future__ import annotations


class EventRouterError(Exception):
    """Base class of every error eventrouter raises on purpose."""


class DeliveryError(EventRouterError):
    """An error about one event (or one request) on its way to a destination."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        response: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.response = response


class RetryableError(DeliveryError):
    """Temporary failure: try again later (honouring ``retry_after`` seconds when given)."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        response: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason, status=status, response=response)
        self.retry_after = retry_after


class Throttled(RetryableError):
    """Our shared rate limit is used up; the event waits ``retry_after`` seconds, no attempt counted."""


class RejectedEvent(DeliveryError):
    """Permanent failure for this event: kept as a dead letter with the reason."""


class SkippedEvent(DeliveryError):
    """The destination deliberately does nothing with this event; counted as skipped."""


class HostError(EventRouterError):
    """The host could not do what a vendor command asked (its config is broken, the destination is unknown)."""


#: what code the host runs but did not write (a plugin, its import, a transform) may raise and must stay
#: that code's failure: any exception, and SystemExit, as a sys.exit() in it would end the drain job
#: (its batch leased, to die again) or the command
FOREIGN_FAULTS = (Exception, SystemExit)
