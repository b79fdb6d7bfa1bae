"""Extole: identify, track and GDPR erasure, one request per event (Extole has no batch API)."""
from __future__ import annotations

from typing import Any

from destinations.base import Destination, Outcome, Prepared
from destinations.extole.client import ExtoleClient
from destinations.extole.mapper import map_event
from destinations.extole.settings import ExtoleSettings


class ExtoleDestination(Destination):
    slug = "extole"
    display_name = "Extole Platform"
    aliases = ("Extole", "extole-destination-v2")
    handles = frozenset({"identify", "track", "delete"})
    settings_schema = ExtoleSettings
    max_batch_size = 100
    #: at 100 requests a minute a drain batch of 20 takes about 12 s of rate limit
    default_batch_size = 20
    #: Extole's documented limit per token; /v6/async-events is exempt (raise it in the config)
    default_rate_limit = "100/minute"

    def __init__(self, settings: dict[str, Any], **kw: Any) -> None:
        super().__init__(settings, **kw)
        self.client = ExtoleClient(settings, self.throttle)

    def map(self, event: dict[str, Any]) -> dict[str, Any]:
        return map_event(event, self.settings)

    def send_one(self, item: Prepared) -> Outcome:
        return self.client.post(item.payload)
