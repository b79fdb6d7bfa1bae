"""A fake Custobar on 127.0.0.1 that checks requests the way Custobar documents them.

- POST only, to /api/customers/upload/, /api/sales/upload/ or /api/events/ (else 404);
- ``Authorization: Token <t>`` / ``Bearer <t>``, or Basic user:password (else 401);
- ``Content-Type: application/json`` (else 415) and a body ``{"<kind>": [records]}``;
- each record as the docs require (an identifier; external_id letters, numbers
  and dashes; money integer cents; sale_currency with sale_exchange_rate;
  event type in capitals with a date). One bad record refuses the whole
  upload with 400 ``{"error": {"reason": ...}}``, as Custobar does.

Accepted records are kept in ``accepted[kind]``, and customers are applied, in
the order received, to ``customers`` the way the docs describe an upload (only
the keys sent change, ``""`` clears one, ``tags.add`` / ``.remove`` change a list). ``refuse`` names extra
records to refuse (a predicate); ``script`` queues replies (429, 500 ...)
for the next requests.
"""
from __future__ import annotations

import base64
import re
from typing import Any, Callable

from tests.fakes.http import FakeServer, Reply, Request

PATHS = {"/api/customers/upload/": "customers", "/api/sales/upload/": "sales", "/api/events/": "events"}
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9-]+$")
SALE_CENTS = ("sale_total", "sale_discount", "sale_shipping", "unit_price", "total", "discount")
#: customer fields by their type in Custobar's customers doc (vendor-docs/custobar-customers-api.txt,
#: "Optional fields": e.g. house_number | string | Number of the house in the street, e.g. "3")
CUSTOMER_BOOLEANS = ("can_email", "can_post", "can_profile", "can_push", "can_sms", "is_forgotten", "is_deleted")
CUSTOMER_STRINGS = (
    "external_id", "canonical_id", "first_name", "last_name", "shop_id", "city", "company", "gender",
    "house_number", "house_number_addition", "province", "street_address", "street_name", "vat_number", "zip_code",
)


def refusal(status: int, reason: str) -> Reply:
    return Reply(status, {"error": {"reason": reason}})


class FakeCustobar(FakeServer):
    def __init__(
        self,
        *,
        token: str | None = "cb-token-1234",
        scheme: str = "Token",
        basic: tuple[str, str] | None = None,
        refuse: Callable[[str, dict[str, Any]], str | None] | None = None,
    ) -> None:
        super().__init__(self.handle)
        if basic:
            self.authorization = "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
        else:
            self.authorization = f"{scheme} {token}"
        self.refuse = refuse or (lambda kind, record: None)
        self.scripted: list[Reply] = []
        self.accepted: dict[str, list[dict[str, Any]]] = {kind: [] for kind in PATHS.values()}
        #: external_id (or email, phone) -> the customer as Custobar holds it
        self.customers: dict[str, dict[str, Any]] = {}

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies (after checking auth and path)."""
        self.scripted.extend(replies)

    def handle(self, req: Request) -> Reply:
        kind = PATHS.get(req.path)
        if req.method != "POST" or kind is None:
            return Reply(404, {"detail": "Not found."})
        if req.headers.get("Authorization") != self.authorization:
            return Reply(401, {"detail": "Invalid token."})
        if self.scripted:
            return self.scripted.pop(0)
        if req.headers.get("Content-Type", "").split(";")[0] != "application/json":
            return refusal(415, "Unsupported media type")
        try:
            body = req.json()
        except ValueError:
            return refusal(400, "JSON parse error")
        if not isinstance(body, dict) or list(body) != [kind] or not isinstance(body[kind], list):
            return refusal(400, f"expected an object with the single key {kind!r} holding a list")
        for n, record in enumerate(body[kind]):
            problem = CHECKS[kind](record) or self.refuse(kind, record)
            if problem:
                return refusal(400, f"{kind}[{n}]: {problem}")
        self.accepted[kind].extend(body[kind])
        if kind == "customers":
            for record in body[kind]:
                self.apply_customer(record)
        return Reply(200, {"response": "ok"})


    def apply_customer(self, record: dict[str, Any]) -> None:
        key = next(str(record[k]) for k in ("external_id", "email", "phone_number") if record.get(k))
        stored = self.customers.setdefault(key, {})
        for name, value in record.items():
            field, _, change = name.partition(".")
            if change in ("add", "remove"):
                current = list(stored.get(field) or [])
                stored[field] = current + [v for v in value if v not in current] if change == "add" else [
                    v for v in current if v not in value]
            elif value == "":
                stored.pop(name, None)
            else:
                stored[name] = value


def check_customer(record: dict[str, Any]) -> str | None:
    if not any(record.get(k) for k in ("external_id", "phone_number", "email")):
        return "one of external_id, phone_number or email is required"
    if "external_id" in record and not EXTERNAL_ID.match(str(record["external_id"])):
        return "external_id must consist of letters, numbers and dashes only"
    if record.get("phone_number") and not re.fullmatch(r"\+[1-9]\d{6,14}", record["phone_number"]):
        return "phone_number must be country prefixed"
    for key in CUSTOMER_BOOLEANS:
        if key in record and not isinstance(record[key], bool) and record[key] != "":
            return f"{key} must be a boolean"
    for key in CUSTOMER_STRINGS:
        if key in record and not isinstance(record[key], str):
            return f"{key} must be a string"
    if record.get("birth_date") and not re.fullmatch(r"\d{4}-\d\d-\d\d", str(record["birth_date"])):
        return "birth_date must be year-month-day, e.g. 1991-06-14"
    return None


def check_sale(record: dict[str, Any]) -> str | None:
    if not record.get("sale_external_id") or not record.get("sale_date"):
        return "sale_external_id and sale_date are required"
    for key in SALE_CENTS:
        if key in record and (not isinstance(record[key], int) or isinstance(record[key], bool)):
            return f"{key} must be an integer (cents)"
    if ("sale_currency" in record) != ("sale_exchange_rate" in record):
        return "sale_currency must be given with sale_exchange_rate"
    return None


def check_event(record: dict[str, Any]) -> str | None:
    if not re.fullmatch(r"[A-Z][A-Z0-9_]*", str(record.get("type", ""))) or not record.get("date"):
        return "type (in capitals) and date are required"
    if not any(record.get(k) for k in ("customer_id", "phone_number", "email", "customer_token")):
        return "one of customer_id, phone_number, email or customer_token is required"
    return None


CHECKS = {"customers": check_customer, "sales": check_sale, "events": check_event}
