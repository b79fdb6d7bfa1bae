"""The host's errors. The delivery error classes are the plugin kit's (destinations/errors.py),
re-exported here for the host; ``ConfigError`` (the configuration is wrong, the process refuses
to start) is the host's own."""
from __future__ import annotations

from destinations.errors import (
    DeliveryError,
    FOREIGN_FAULTS,
    EventRouterError,
    HostError,
    RejectedEvent,
    RetryableError,
    SkippedEvent,
    Throttled,
)

__all__ = ["FOREIGN_FAULTS", "ConfigError", "DeliveryError", "EventRouterError", "HostError", "RejectedEvent", "RetryableError",
           "SkippedEvent", "Throttled"]


class ConfigError(EventRouterError):
    """Invalid configuration. ``errors`` maps key paths to messages."""

    def __init__(self, errors: dict[str, str] | str) -> None:
        if isinstance(errors, str):
            errors = {"": errors}
        self.errors = errors
        lines = [f"{path}: {msg}" if path else msg for path, msg in sorted(errors.items())]
        super().__init__("\n".join(lines))
