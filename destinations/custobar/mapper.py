"""Segment event -> the records of one Custobar upload. Pure: no I/O.

identify -> customers; delete -> customers (is_deleted); track "Order
Completed" -> sales (a row per product); other track events -> events, by
the ``event_types`` map (unmapped names are skipped).
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from destinations.audiences import profile_form, synced_audience
from destinations.custobar import values
from destinations.custobar.customers import customer_keys, customer_record, deletion_record
from destinations.custobar.sales import sale_rows
from destinations.custobar.upload import Endpoint, Upload
from destinations.mapping import FieldTable, pick
from destinations.errors import RejectedEvent, SkippedEvent

#: event field <- the first non-empty of these paths
EVENT_FIELDS: FieldTable = {
    "product_id": ("properties.product_id", "properties.sku"),
    "path": ("context.page.path", "properties.path"),
    "sale_id": ("properties.order_id",),
    "tracking_number": ("properties.tracking_number",),
}

#: Custobar's event types are capitals (BROWSE, BASKET_ADD, ORDER_SHIPPED, ...)
CUSTOBAR_TYPE = re.compile(r"[A-Z][A-Z0-9_]*")

#: how the customer is named on an event
EVENT_CUSTOMER_KEYS = {"external_id": "customer_id", "email": "email", "phone_number": "phone_number"}


def map_event(event: Mapping[str, Any], settings: Mapping[str, Any]) -> Upload:
    audience = synced_audience(dict(event))
    event = profile_form(dict(event))
    kind = event.get("type")
    if kind == "identify":
        record, left_out = customer_record(event, settings)
        if audience and audience in left_out:
            raise SkippedEvent(
                f"audience {audience!r} has no Custobar field: set company_prefix "
                "(it becomes <company_prefix>__<audience key>, defined in Custobar's data schema)"
            )
        return Upload(Endpoint.CUSTOMERS, [record], tuple(left_out))
    if kind == "delete":
        return Upload(Endpoint.CUSTOMERS, [deletion_record(event, settings)])
    if kind == "track" and event.get("event") in settings["sale_events"]:
        return Upload(Endpoint.SALES, sale_rows(event, settings))
    if kind == "track":
        return Upload(Endpoint.EVENTS, [event_record(event, settings)])
    raise SkippedEvent(f"Custobar takes identify, track and delete, not {kind}")


def event_record(event: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """A Custobar event: ``type`` from the event_types map, ``date``, the customer, and product/path details."""
    name = event.get("event")
    # a name that is already a Custobar type (events.rename {"Product Viewed": "BROWSE"}) is that type
    custobar_type = settings["event_types"].get(name) or (name if isinstance(name, str) and CUSTOBAR_TYPE.fullmatch(name) else None)
    if not custobar_type:
        raise SkippedEvent(f"track {name!r} has no Custobar event type (add it to event_types)")
    record: dict[str, Any] = {"type": custobar_type, "date": event["timestamp"]}
    keys = customer_keys(event, settings)
    if not keys:
        raise RejectedEvent("a Custobar event needs a userId, context.traits.email or a phone to name the customer")
    record.update({EVENT_CUSTOMER_KEYS[key]: value for key, value in keys.items()})
    # ids as text, as on the sale rows (sale_id names a sale_external_id)
    record.update((k, values.text(v, k)) for k, v in pick(event, EVENT_FIELDS).items())
    return record
