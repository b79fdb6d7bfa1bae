"""No-code HTTP destination: the requests are described in the YAML (destinations/http_api/spec.py).

Same engine as every plugin: the mapper is pure (the description applied to
one event), the client makes one request per event or per batch of the same
url, and the description's statuses decide done / retry / reject.
"""
from __future__ import annotations

from typing import Any, Sequence

from destinations.base import EVENT_TYPES, Destination, Outcome, Prepared, send_calls
from destinations.http_api.client import HttpApiClient
from destinations.http_api.mapper import HttpCall, map_event
from destinations.http_api.settings import MAX_BATCH, HttpSettings


class HttpDestination(Destination):
    slug = "http"
    display_name = "HTTP API"
    aliases = ("HTTP",)
    handles = EVENT_TYPES
    settings_schema = HttpSettings
    max_batch_size = MAX_BATCH
    default_batch_size = 100
    default_rate_limit = None

    def __init__(self, settings: dict[str, Any], **kw: Any) -> None:
        super().__init__(settings, **kw)
        self.specs = {spec.index: spec for spec in settings["requests"]}
        self.client = HttpApiClient(settings, self.throttle)

    @classmethod
    def handles_for(cls, settings: dict[str, Any]) -> frozenset[str]:
        """The event types this instance has a request for (a delete only with a delete request)."""
        return frozenset(spec.type for spec in settings["requests"])

    def map(self, event: dict[str, Any]) -> HttpCall:
        return map_event(event, self.settings["requests"])

    def send(self, batch: Sequence[Prepared]) -> list[Outcome]:
        calls = []
        groups: dict[Any, list[int]] = {}
        for i, item in enumerate(batch):
            call: HttpCall = item.payload
            spec = self.specs[call.request]
            if spec.batch is None:
                calls.append(([i], [call]))
            else:
                key = (call.request, call.method, call.url, call.headers, call.query)
                group = groups.get(key)
                if group is None or len(group) >= spec.batch.max:
                    group = groups[key] = []
                    calls.append((group, None))
                group.append(i)
        return send_calls(len(batch), (
            (indexes, lambda idx=indexes: self.client.send(self.specs[batch[idx[0]].payload.request],
                                                           [batch[j].payload for j in idx]))
            for indexes, _ in calls))
