"""The host as vendor commands see it (destinations/host.py ``Host``): the CLI's config and
runtime, loaded on first use so that ``eventrouter extole --help`` stays cheap and a command
that needs only the config (a client id) works without Redis."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from destinations.base import Destination
from router.config import Config, DestinationConfig, load_config
from router.errors import ConfigError, HostError

if TYPE_CHECKING:
    from router.runtime import Runtime


class RouterHost:
    """Implements ``destinations.host.Host`` over the config of ``--config`` / ``EVENTROUTER_CONFIG``."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self._config: Config | None = None
        self._runtime: "Runtime | None" = None

    def config(self) -> Config:
        if self._config is None:
            try:
                self._config = load_config(self.path)
            except ConfigError as exc:
                raise HostError(f"configuration error:\n{exc}") from None
        return self._config

    def runtime(self) -> "Runtime":
        from router.runtime import Runtime

        if self._runtime is None:
            self._runtime = Runtime(self.config())
        return self._runtime

    def destinations(self) -> Sequence[DestinationConfig]:
        return self.config().destinations

    def build(self, name: str) -> Destination:
        return self.runtime().build(name)

    def enqueue(self, name: str, events: list[dict[str, Any]]) -> int:
        return self.runtime().enqueue(name, events)

    def settled(self, name: str) -> dict[str, int]:
        from router.progress import settled

        return settled(self.runtime(), name)

    def follow(self, name: str, baseline: dict[str, int], total: int) -> dict[str, int]:
        from router.progress import follow_delivery

        return follow_delivery(self.runtime(), name, baseline, total)
