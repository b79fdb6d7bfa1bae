"""Yespo (formerly eSputnik): track -> events (or orders, or past events), identify -> contacts, delete -> erase."""
from __future__ import annotations

from datetime import datetime, timezone
from functools import partial
from typing import Any, Callable, Iterator, Sequence

from destinations.base import Call, Destination, Outcome, Prepared
from destinations.ordering import Kinds, members, merge_units, plan_steps, same_customer, send_in_order, spread
from destinations.yespo.contacts import contact_field_names, contact_names, merge_contacts
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

#: the order of a batch's requests: a contact exists before the events about it
KINDS = Kinds(
    order=(Kind.CONTACT, Kind.ORDER, Kind.PAST_EVENT, Kind.EVENT, Kind.DELETE),
    profile=frozenset({Kind.CONTACT, Kind.DELETE}),
    final=frozenset({Kind.DELETE}),
    # Yespo stores events only for contacts that exist
    need_profile=frozenset({Kind.EVENT, Kind.PAST_EVENT}),
)


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
        """Contacts first, then orders, past events, events and erasures, each user's calls in the
        order received (see destinations/ordering.py)."""
        steps = plan_steps(batch, lambda item: item.payload.kind, KINDS)
        return send_in_order(batch, steps, partial(self.requests, batch), KINDS)

    def send_one(self, item: Prepared) -> Outcome:
        call: YespoCall = item.payload
        if call.kind is Kind.EVENT:
            return self.client.send_event(call.body)
        if call.kind is Kind.CONTACT:
            return self.client.upsert_contact(call.body)
        if call.kind is Kind.DELETE:
            return self.client.delete_contact(call.body["externalCustomerId"])
        return self.send([item])[0]

    def requests(self, batch: Sequence[Prepared], kind: Kind, indexes: list[int]) -> Iterator[Call]:
        """One step's requests: one per event, or one per chunk of a bulk endpoint."""
        bodies = [batch[i].payload.body for i in indexes]
        if kind is Kind.PAST_EVENT:
            yield from chunked(indexes, bodies, PAST_EVENTS_PER_REQUEST, self.client.send_past_events)
        elif kind is Kind.ORDER:
            yield from chunked(indexes, bodies, ORDERS_PER_REQUEST, self.client.send_orders)
        elif kind is Kind.CONTACT:
            yield from self.contact_requests(batch, indexes)
        else:
            for i in indexes:
                yield [i], partial(self.send_one, batch[i])

    def contact_requests(self, batch: Sequence[Prepared], indexes: list[int]) -> Iterator[Call]:
        """A user's identifies of this step merged into one contact (the newest value of each
        field wins); bulk: contacts carrying the same fields share a request."""
        bulk = self.settings["identify_via"] == "contacts"
        dedupe_on = self.settings["dedupe_on"] if bulk else "email_or_sms"
        units = merge_units(indexes, lambda i: batch[i].payload.body, same_customer(partial(contact_names, dedupe_on=dedupe_on)), merge_contacts)
        if not bulk:
            for unit in units:
                yield unit[0], partial(self.client.upsert_contact, unit[1])
            return
        groups: dict[tuple[Any, ...], list[Unit]] = {}
        for unit in units:
            contact = unit[1]
            groups.setdefault((contact_field_names(contact), tuple(f["id"] for f in contact.get("fields", ()))), []).append(unit)
        for (fields, field_ids), group in groups.items():
            upsert = partial(self.client.upsert_contacts, fields=fields, field_ids=field_ids)
            for start in range(0, len(group), CONTACTS_PER_REQUEST):
                chunk = group[start : start + CONTACTS_PER_REQUEST]
                yield members(chunk), partial(spread_call, chunk, upsert)


Unit = tuple[list[int], dict[str, Any]]


def spread_call(units: list[Unit], upsert: Callable[[list[Any]], list[Outcome]]) -> Any:
    return spread(units, upsert([body for _, body in units]))


def chunked(indexes: list[int], bodies: list[Any], size: int, call: Callable[[list[Any]], list[Outcome]]) -> Iterator[Call]:
    for start in range(0, len(indexes), size):
        yield indexes[start : start + size], partial(call, bodies[start : start + size])
