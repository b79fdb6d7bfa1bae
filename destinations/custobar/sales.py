"""track "Order Completed" (Segment e-commerce spec) -> Custobar sale rows, one per product line.

Every row repeats the sale fields (``sale_external_id`` = order_id, the
customer, date, totals); money is integer cents. Rows carry a line
``external_id`` (``<order_id>-<line number>``) so a repeated upload updates the
same lines instead of adding new ones.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from destinations.custobar import values
from destinations.custobar.customers import customer_keys
from destinations.mapping import FieldTable, first, get_path
from destinations.errors import RejectedEvent

ORDER_COMPLETED = "Order Completed"

#: sale money field <- the first of these the order carries (Segment's total includes discounts; revenue is the fallback)
SALE_MONEY: FieldTable = {
    "sale_total": ("properties.total", "properties.revenue"),
    "sale_discount": ("properties.discount",),
    "sale_shipping": ("properties.shipping",),
}

#: how the customer of the order is named on a sale row
SALE_CUSTOMER_KEYS = {"external_id": "sale_customer_id", "email": "sale_email", "phone_number": "sale_phone_number"}

PRODUCT_ID = ("product_id", "sku", "id")


def sale_rows(event: Mapping[str, Any], settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of one order, all or none: a line that can't be sent rejects the order."""
    order_id = first(event, ("properties.order_id",))
    if order_id is None or isinstance(order_id, (dict, list, bool)):
        raise RejectedEvent("Order Completed needs properties.order_id (Custobar's sale_external_id)")
    products = get_path(event, "properties.products", None)
    if not isinstance(products, list) or not products:
        raise RejectedEvent("Order Completed has no properties.products: Custobar stores a sale as its product lines")
    sale: dict[str, Any] = {"sale_external_id": str(order_id), "sale_date": event["timestamp"]}
    for key, value in customer_keys(event, settings).items():
        sale[SALE_CUSTOMER_KEYS[key]] = value
    for target, paths in SALE_MONEY.items():
        amount = first(event, paths)
        if amount is not None:
            sale[target] = values.cents(amount, target_path(event, paths))
    sale.update(currency(event, settings["account_currency"]))
    return [{**sale, **line(product, n, str(order_id))} for n, product in enumerate(products, start=1)]


def line(product: Any, n: int, order_id: str) -> dict[str, Any]:
    """One product line: unit_price and total in cents; total = price x quantity - line discount."""
    where = f"properties.products[{n - 1}]"
    if not isinstance(product, Mapping):
        raise RejectedEvent(f"{where} is not a product object")
    product_id = next((product[k] for k in PRODUCT_ID if product.get(k) not in (None, "")), None)
    if product_id is None or isinstance(product_id, (dict, list, bool)):
        raise RejectedEvent(f"{where} has no product_id or sku")
    # Segment's quantity is optional: a line without one is one item
    quantity = values.decimal(product.get("quantity", 1), f"{where}.quantity")
    row: dict[str, Any] = {"external_id": f"{order_id}-{n}", "product_id": str(product_id), "quantity": number(quantity)}
    if product.get("price") is not None:
        price = values.decimal(product["price"], f"{where}.price")
        discount = values.decimal(product.get("discount") or 0, f"{where}.discount")
        row["unit_price"] = values.to_cents(price, f"{where}.price")
        row["total"] = values.to_cents(price * quantity - discount, f"{where}: price x quantity - discount")
        if product.get("discount") is not None:
            row["discount"] = values.to_cents(discount, f"{where}.discount")
    return row


def currency(event: Mapping[str, Any], account_currency: str | None) -> dict[str, Any]:
    """sale_currency with the sale_exchange_rate Custobar requires alongside it.

    The rate comes from ``properties.exchange_rate``; an order in the account's
    own currency has rate 1. Any other currency without a rate is rejected:
    sending it without a rate is refused, and dropping it would book foreign
    money as the account's.
    """
    code = first(event, ("properties.currency",))
    if code is None:
        return {}
    if not isinstance(code, str) or len(code.strip()) != 3 or not code.strip().isalpha():
        raise RejectedEvent(f"properties.currency {code!r} is not an ISO 4217 code (e.g. EUR)")
    code = code.strip().upper()
    rate = first(event, ("properties.exchange_rate",))
    if rate is not None:
        return {"sale_currency": code, "sale_exchange_rate": number(values.decimal(rate, "properties.exchange_rate"))}
    if code == account_currency:
        return {"sale_currency": code, "sale_exchange_rate": 1}
    raise RejectedEvent(
        f"an order in {code} needs properties.exchange_rate: Custobar takes sale_currency only with "
        f"sale_exchange_rate (set account_currency if {code} is the Custobar account's currency)"
    )


def number(value: Decimal) -> int | float:
    """A JSON number: whole values as integers (2, not 2.0)."""
    return int(value) if value == value.to_integral_value() else float(value)


def target_path(event: Mapping[str, Any], paths: tuple[str, ...] | list[str]) -> str:
    """The path a value came from, for the reason of a rejection."""
    return next((p for p in paths if get_path(event, p, None) not in (None, "")), paths[0])
