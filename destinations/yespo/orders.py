"""Segment's "Order Completed" as a Yespo order.

One shaping function feeds both ways of sending it: the params of an
``orderCreated`` event (the seed example in yespo-past-events.txt, field for
field and in its order) and an entry of ``POST /api/v1/orders``.
"""
from __future__ import annotations

from typing import Any, Mapping

from destinations.base import require
from destinations.mapping import first, get_path, pick, source_keys
from destinations.yespo.common import IDENTITY, compact_json, event_time, number
from destinations.yespo.settings import ORDER_STATUSES

ORDER = {
    "email": IDENTITY["email"],
    "phone": IDENTITY["phone"],
    "externalOrderId": ("properties.order_id", "properties.orderId", "properties.checkout_id"),
    "externalCustomerId": IDENTITY["externalCustomerId"],
    "totalCost": ("properties.total", "properties.revenue", "properties.value"),
    "status": ("properties.status",),
    "currency": ("properties.currency",),
}
#: the order of the seed example's params
FIELD_ORDER = ("email", "phone", "externalOrderId", "externalCustomerId", "totalCost", "status", "date", "currency", "items")

#: one ``properties.products[]`` entry -> one order item
ITEM = {
    "externalItemId": ("product_id", "productId", "sku", "id"),
    "name": ("name",),
    "category": ("category",),
    "quantity": ("quantity",),
    "cost": ("price",),
    "url": ("url",),
    "imageUrl": ("image_url", "imageUrl"),
    "description": ("description",),
}

#: typed fields only the orders API has
API_EXTRAS = {
    "firstName": ("context.traits.firstName", "context.traits.first_name"),
    "lastName": ("context.traits.lastName", "context.traits.last_name"),
    "shipping": ("properties.shipping",),
    "discount": ("properties.discount",),
    "taxes": ("properties.tax",),
}

#: properties the order fields above already carry
CONSUMED = source_keys(ORDER, "properties") | {"products"}
API_CONSUMED = CONSUMED | source_keys(API_EXTRAS, "properties")


def order_fields(event: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The order, with numbers as numbers and ``date`` left to the caller, in the seed's field order."""
    found = pick(event, ORDER)
    require(found.get("externalOrderId") is not None, "order has no properties.order_id")
    require(
        any(k in found for k in ("externalCustomerId", "email", "phone")),
        "order has no userId, email or phone; Yespo needs one of them",
    )
    require("totalCost" in found, "order has no properties.total, revenue or value")
    currency = found.get("currency") or settings["default_currency"]
    require(currency, "order has no properties.currency and the destination has no default_currency")
    values = {
        **{k: str(v) for k, v in found.items() if k in ("email", "phone", "externalOrderId", "externalCustomerId")},
        "totalCost": number(found["totalCost"], "order total"),
        "status": order_status(found.get("status"), settings["order_status"]),
        # ISO 4217 in capitals, as Yespo's example ("UAH")
        "currency": str(currency).strip().upper(),
        "items": items(get_path(event, "properties.products", [])),
    }
    return {k: values[k] for k in FIELD_ORDER if k in values}


def order_event_fields(event: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The orderCreated event's params (before stringifying); ``date`` like the seed's "2020-05-14T10:11:00"."""
    fields = order_fields(event, settings)
    fields["date"] = event_time(event).strftime("%Y-%m-%dT%H:%M:%S")
    return {k: fields[k] for k in FIELD_ORDER if k in fields}


def api_order(event: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """One entry of POST /api/v1/orders; other properties go to ``additionalInfo`` (strings)."""
    order = order_fields(event, settings)
    order["date"] = event_time(event).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name, value in pick(event, API_EXTRAS).items():
        order[name] = number(value, f"order {name}") if name in ("shipping", "discount", "taxes") else str(value)
    properties = event.get("properties") or {}
    extra = {k: v if isinstance(v, str) else compact_json(v) for k, v in properties.items() if k not in API_CONSUMED and v is not None}
    if extra:
        order["additionalInfo"] = extra
    return order


def order_status(value: Any, default: str) -> str:
    """Yespo's status when properties.status is one of them, else the configured default."""
    if isinstance(value, str) and value.upper() in ORDER_STATUSES:
        return value.upper()
    return default


def items(products: Any) -> list[dict[str, Any]]:
    require(isinstance(products, list), "properties.products is not a list")
    return [item(p, i) for i, p in enumerate(products)]


def item(product: Any, index: int) -> dict[str, Any]:
    """An order item. Yespo requires a quantity: a product without one counts as 1."""
    require(isinstance(product, Mapping), f"products[{index}] is not an object")
    out = pick(product, ITEM)
    require("externalItemId" in out, f"products[{index}] has no product_id or sku")
    out["externalItemId"] = str(out["externalItemId"])
    out["quantity"] = whole(number(first(product, ITEM["quantity"], 1), f"products[{index}].quantity"))
    if "cost" in out:
        out["cost"] = number(out["cost"], f"products[{index}].price")
    return {k: out[k] for k in ITEM if k in out}


def whole(value: int | float) -> int | float:
    """A count as Yespo's example writes it: an integer (2, not 2.0 or "2"); a fraction stays a number."""
    return int(value) if float(value).is_integer() else value
