"""Slack incoming webhooks: a message in one channel per identify or track event.

Made with `eventrouter new-destination slack`, then shaped after Slack's public docs for
incoming webhooks: POST a JSON message (``text``, optional Block Kit ``blocks``) to the
webhook URL; 200 with the body ``ok`` means posted; errors are HTTP statuses with a short
code as the body (``invalid_payload``, ``channel_is_archived``, ...); about one message a
second per webhook."""
from __future__ import annotations

from typing import Any

from destinations.kit import Destination, Outcome, Prepared

from eventrouter_slack.client import Client
from eventrouter_slack.mapper import map_event
from eventrouter_slack.settings import Settings


class SlackDestination(Destination):
    slug = "slack"
    display_name = "Slack"
    handles = frozenset({"identify", "track"})
    settings_schema = Settings
    # one message per request: a "batch" is only what one drain sends in a row
    max_batch_size = 20
    default_batch_size = 20
    default_rate_limit = "1/second"

    def __init__(self, settings: dict[str, Any], **kw: Any) -> None:
        super().__init__(settings, **kw)
        self.client = Client(settings, throttle=self.throttle)

    def map(self, event: dict[str, Any]) -> Any:
        return map_event(event, self.settings)

    def send_one(self, item: Prepared) -> Outcome | None:
        return self.client.send(item.payload)
