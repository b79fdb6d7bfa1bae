"""Signed webhook: posts Segment events as JSON, one per request or as an array."""
from __future__ import annotations

from typing import Any, Sequence

from destinations.base import EVENT_TYPES, Destination, Outcome, Prepared, send_calls
from destinations.webhook.client import WebhookClient
from destinations.webhook.mapper import map_event
from destinations.webhook.settings import WebhookSettings


class WebhookDestination(Destination):
    slug = "webhook"
    display_name = "Webhooks"
    aliases = ("Webhook", "Webhooks (Actions)")
    handles = EVENT_TYPES
    settings_schema = WebhookSettings
    max_batch_size = 500
    default_batch_size = 100
    default_rate_limit = None
    passthrough = True  # the event as it is, JSON-encoded by orjson (client.encode)

    def __init__(self, settings: dict[str, Any], **kw: Any) -> None:
        super().__init__(settings, **kw)
        self.client = WebhookClient(settings, self.throttle)

    def map(self, event: dict[str, Any]) -> Any:
        return map_event(event)

    def send(self, batch: Sequence[Prepared]) -> list[Outcome]:
        if not self.settings["batch"]:
            return super().send(batch)
        return send_calls(len(batch), [(list(range(len(batch))), lambda: self.client.post([item.payload for item in batch]))])

    def send_one(self, item: Prepared) -> Outcome:
        return self.client.post(item.payload)
