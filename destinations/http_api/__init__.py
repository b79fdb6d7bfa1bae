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
from destinations.ordering import people


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
        """One request per url where a person's order allows: an item joins an earlier open group
        only when no later request carries the same person (else it would overtake that request)."""
        calls: list[list[int]] = []
        groups: dict[Any, int] = {}  # batch key -> position of its open group in calls
        latest: dict[int, int] = {}  # person -> position of the last request that carries them
        for i, (item, person) in enumerate(zip(batch, people(batch))):
            call: HttpCall = item.payload
            spec = self.specs[call.request]
            key = (call.request, call.method, call.url, call.headers, call.query)
            pos = groups.get(key) if spec.batch is not None else None
            if pos is None or len(calls[pos]) >= spec.batch.max or pos < latest.get(person, -1):
                pos = len(calls)
                calls.append([])
                if spec.batch is not None:
                    groups[key] = pos
            calls[pos].append(i)
            latest[person] = pos
        return send_calls(len(batch), (
            (indexes, lambda idx=indexes: self.client.send(self.specs[batch[idx[0]].payload.request],
                                                           [batch[j].payload for j in idx]))
            for indexes in calls))
