"""Yespo (formerly eSputnik): track -> events (or orders, or past events), identify -> contacts, delete -> erase."""
from __future__ import annotations

from datetime import datetime, timezone
from functools import partial
from typing import Any, Callable, Iterator, Sequence

from destinations.base import Call, Destination, Outcome, Prepared, group_by, send_calls
from destinations.yespo.client import YespoClient
from destinations.yespo.limits import (
    CONTACTS_PER_REQUEST,
    ORDERS_PER_REQUEST,
    PAST_EVENTS_PER_REQUEST,
    RATE_EVENTS,
    RATE_OTHER,
    RATE_PAST_EVENTS,
)
from destinations.yespo.mapper import Kind, YespoCall, map_event
from destinations.yespo.settings import YespoSettings


class YespoDestination(Destination):
    slug = "yespo"
    display_name = "Yespo"
    aliases = ("eSputnik",)
    handles = frozenset({"identify", "track", "delete"})
    settings_schema = YespoSettings
    max_batch_size = ORDERS_PER_REQUEST
    default_batch_size = 100
    default_rate_limit = f"{RATE_OTHER}/second"
    rate_limits = {"event": f"{RATE_EVENTS}/second", "past_events": f"{RATE_PAST_EVENTS}/second"}

    def __init__(self, settings: dict[str, Any], **kw: Any) -> None:
        super().__init__(settings, **kw)
        self.client = YespoClient(settings, self.throttle)

    def map(self, event: dict[str, Any]) -> YespoCall:
        return map_event(event, self.settings, now=datetime.now(timezone.utc))

    def send(self, batch: Sequence[Prepared]) -> list[Outcome]:
        return send_calls(len(batch), self.requests(batch))

    def send_one(self, item: Prepared) -> Outcome:
        call: YespoCall = item.payload
        if call.kind is Kind.EVENT:
            return self.client.send_event(call.body)
        if call.kind is Kind.CONTACT:
            return self.client.upsert_contact(call.body)
        if call.kind is Kind.DELETE:
            return self.client.delete_contact(call.body["externalCustomerId"])
        return self.send([item])[0]

    def requests(self, batch: Sequence[Prepared]) -> Iterator[Call]:
        """The requests a batch needs, kinds in the order they first appear (an identify before
        the events that follow it): one per event, or one per chunk of a bulk endpoint."""
        groups = group_by(batch, lambda item: (item.payload.kind, item.payload.group))
        for (kind, group), indexes in groups.items():
            bodies = [batch[i].payload.body for i in indexes]
            if kind is Kind.PAST_EVENT:
                yield from chunked(indexes, bodies, PAST_EVENTS_PER_REQUEST, self.client.send_past_events)
            elif kind is Kind.ORDER:
                yield from chunked(indexes, bodies, ORDERS_PER_REQUEST, self.client.send_orders)
            elif kind is Kind.CONTACT and group:
                fields, field_ids = group
                upsert = partial(self.client.upsert_contacts, fields=fields, field_ids=field_ids)
                yield from chunked(indexes, bodies, CONTACTS_PER_REQUEST, upsert)
            else:
                for i in indexes:
                    yield [i], partial(self.send_one, batch[i])


def chunked(indexes: list[int], bodies: list[Any], size: int, call: Callable[[list[Any]], list[Outcome]]) -> Iterator[Call]:
    for start in range(0, len(indexes), size):
        yield indexes[start : start + size], partial(call, bodies[start : start + size])
