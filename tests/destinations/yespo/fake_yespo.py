"""A fake Yespo on 127.0.0.1 that checks requests the way Yespo documents them
and answers the way Yespo does.

- HTTP Basic, any username, the API key as the password; else 401.
- JSON bodies (Content-Type application/json) on the documented paths.
- /event: eventTypeKey ≤ 100 without forbidden characters, keyValue ≤ 300,
  params [{name, value}] with string values in v1, body ≤ 20 KB; else 400.
- /past_events: ≤ 500 events, a status per event (``statuses`` scripts them
  by eventTypeKey; ``occurred`` is checked), successCount/errorCount.
- /orders: ≤ 1000, required fields checked, ``failedOrders`` for refusals.
- /contact: 409 for the same body twice (Yespo: "repeated within 1 minute").
- /contacts: ≤ 3000, dedupeOn required; applies the documented semantics to
  a contact store: fields listed in ``contactFields`` that a contact lacks
  become null, so tests can see a bulk upsert wipe data.
- DELETE /contact?externalCustomerId=&erase=true: 404 for unknown contacts.

``script(method, path, reply, ...)`` makes the next requests to a path get
the given replies (429, 500, ...) before the normal behaviour resumes.
"""
from __future__ import annotations

import base64
import json
import re
from collections import defaultdict, deque
from typing import Any

from tests.fakes.http import FakeServer, Reply, Request

API_KEY = "yespo-test-key"
FORBIDDEN = set("<;’\\/|\"`'^?!,>")
OCCURRED = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2})?$")
ORDER_STATUSES = {"INITIALIZED", "IN_PROGRESS", "DELIVERED", "CANCELLED", "ABANDONED_SHOPPING_CART"}
CONTACT_FIELDS = {
    "firstName", "contactKey", "ordersInfo", "lastName", "languageCode", "timeZone", "email", "sms",
    "mobilepush", "webpush", "address", "town", "region", "externalCustomerId", "postcode",
}
ADDRESS_PARTS = ("address", "town", "region", "postcode")
CHANNEL_TYPES = {"email", "sms", "viber", "mobilepush", "webpush", "telegram_bot", "app_inbox"}


class FakeYespo(FakeServer):
    def __init__(self, api_key: str = API_KEY) -> None:
        super().__init__(self.handle)
        self.api_key = api_key
        self.reset()

    def reset(self) -> None:
        """Forget every request and all state (one server serves a whole test module: stopping one takes 0.5 s)."""
        self.requests.clear()
        self.scripted: dict[tuple[str, str], deque[Reply]] = defaultdict(deque)
        #: eventTypeKey -> the status past_events gives it (default ACCEPTED); a list gives its
        #: statuses one at a time, then keeps giving the last
        self.statuses: dict[str, str | list[str]] = {}
        #: externalOrderId -> error for /orders to refuse it with
        self.refuse_orders: dict[str, str] = {}
        #: email -> error for /contacts to refuse that contact with
        self.refuse_contacts: dict[str, str] = {}
        #: contacts as Yespo would hold them: key -> flat fields (custom fields as "field:<id>")
        self.contacts: dict[str, dict[str, Any]] = {}
        self._seen_contact_bodies: set[bytes] = set()

    # test helpers -----------------------------------------------------------------
    def script(self, method: str, path: str, *replies: Reply) -> None:
        self.scripted[(method, path)].extend(replies)

    # the vendor ---------------------------------------------------------------------
    def handle(self, req: Request) -> Reply:
        if not self.authorized(req):
            return Reply(401, {"error": "Unauthorized"})
        scripted = self.scripted.get((req.method, req.path))
        if scripted:
            return scripted.popleft()
        if req.method == "DELETE" and req.path == "/api/v1/contact":
            return self.delete_contact(req)
        if req.method != "POST":
            return Reply(405, {"error": "Method not allowed"})
        if not req.headers.get("Content-Type", "").startswith("application/json"):
            return Reply(415, {"error": "Unsupported media type"})
        body = req.json()
        routes = {
            "/api/v1/event": lambda: self.event(body, "v1"),
            "/api/v2/event": lambda: self.event(body, "v2"),
            "/api/v1/past_events": lambda: self.past_events(body, "v1"),
            "/api/v2/past_events": lambda: self.past_events(body, "v2"),
            "/api/v1/orders": lambda: self.orders(body),
            "/api/v1/contact": lambda: self.contact(body, req.body),
            "/api/v1/contacts": lambda: self.bulk_contacts(body),
        }
        route = routes.get(req.path)
        return route() if route else Reply(404, {"error": f"no such resource {req.path}"})

    def authorized(self, req: Request) -> bool:
        scheme, _, token = req.headers.get("Authorization", "").partition(" ")
        if scheme != "Basic":
            return False
        _user, _, password = base64.b64decode(token).decode().partition(":")
        return password == self.api_key

    def event(self, body: dict[str, Any], version: str) -> Reply:
        error = event_error(body, version)
        if not error and len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()) > 20 * 1024:
            error = "request body larger than 20 KB"
        return Reply(400, {"error": error}) if error else Reply(200, b"")

    def past_events(self, body: dict[str, Any], version: str) -> Reply:
        events = body.get("events")
        if not isinstance(events, list) or not 1 <= len(events) <= 500:
            return Reply(400, {"error": "events must hold 1 to 500 events"})
        results = []
        for event in events:
            if event_error(event, version):
                return Reply(400, {"error": event_error(event, version)})
            if "occurred" not in event:
                status = "OCCURRED_DATE_IS_REQUIRED"
            elif not OCCURRED.match(str(event["occurred"])):
                status = "INCORRECT_OCCURRED_DATE_FORMAT"
            else:
                status = self.past_event_status(event["eventTypeKey"])
            results.append({"status": status})
        ok = sum(r["status"] == "ACCEPTED" for r in results)
        return Reply(200, {"results": results, "successCount": ok, "errorCount": len(results) - ok})

    def past_event_status(self, key: str) -> str:
        scripted = self.statuses.get(key, "ACCEPTED")
        if isinstance(scripted, list):
            return scripted.pop(0) if len(scripted) > 1 else scripted[0]
        return scripted

    def orders(self, body: dict[str, Any]) -> Reply:
        orders = body.get("orders")
        if not isinstance(orders, list) or not 1 <= len(orders) <= 1000:
            return Reply(400, {"error": "orders must hold 1 to 1000 orders"})
        failed = []
        for order in orders:
            missing = [k for k in ("externalOrderId", "totalCost", "status", "date", "currency") if order.get(k) in (None, "")]
            if missing:
                failed.append({"order": order, "error": f"required fields are empty: {', '.join(missing)}"})
            elif not any(order.get(k) for k in ("externalCustomerId", "email", "phone")):
                failed.append({"order": order, "error": "externalCustomerId, email or phone is required"})
            elif not isinstance(order["totalCost"], (int, float)) or order["status"] not in ORDER_STATUSES:
                failed.append({"order": order, "error": "incorrect format"})
            elif any("externalItemId" not in i or "quantity" not in i for i in order.get("items", [])):
                failed.append({"order": order, "error": "item externalItemId and quantity are required"})
            elif str(order["externalOrderId"]) in self.refuse_orders:
                failed.append({"order": order, "error": self.refuse_orders[str(order["externalOrderId"])]})
        return Reply(200, {"failedOrders": failed})

    def contact(self, body: dict[str, Any], raw: bytes) -> Reply:
        if not body.get("channels"):
            return Reply(400, {"error": "channels: at least one channel is required"})
        problem = contact_error(body)
        if problem:
            return Reply(400, {"error": problem})
        if raw in self._seen_contact_bodies:
            return Reply(409, {"error": "Repeated request within 1 minute"})
        self._seen_contact_bodies.add(raw)
        flat = flatten(body)
        key = contact_key(flat, "email_or_sms")
        self.contacts.setdefault(key, {}).update(flat)
        return Reply(200, {"id": len(self.contacts)})

    def bulk_contacts(self, body: dict[str, Any]) -> Reply:
        contacts, dedupe_on = body.get("contacts"), body.get("dedupeOn")
        if not isinstance(contacts, list) or not 1 <= len(contacts) <= 3000:
            return Reply(400, {"error": "contacts must hold 1 to 3000 contacts"})
        if dedupe_on not in ("email", "sms", "push", "email_or_sms", "id", "externalCustomerId", "fieldId"):
            return Reply(400, {"error": "dedupeOn is required"})
        listed = body.get("contactFields")
        if listed is not None and not set(listed) <= CONTACT_FIELDS:
            return Reply(400, {"error": f"unknown contactFields {sorted(set(listed) - CONTACT_FIELDS)}"})
        custom_ids = body.get("customFieldsIDs") or []
        failed = []
        for contact in contacts:
            if contact_error(contact):
                return Reply(400, {"error": contact_error(contact)})
            flat = flatten(contact)
            if flat.get("email") in self.refuse_contacts:
                failed.append({**contact, "error": self.refuse_contacts[flat["email"]]})
                continue
            stored = self.contacts.setdefault(contact_key(flat, dedupe_on), {})
            for name in listed if listed is not None else CONTACT_FIELDS:
                stored[name] = flat.get(name)  # Yespo: listed fields without data become null
            for field_id in custom_ids:
                stored[f"field:{field_id}"] = flat.get(f"field:{field_id}")
        # Yespo answers a single failed contact as an object, several as an array
        answer: dict[str, Any] = {"asyncSessionId": "fake-session-1"}
        if failed:
            answer["failedContacts"] = failed[0] if len(failed) == 1 else failed
        return Reply(200, answer)

    def delete_contact(self, req: Request) -> Reply:
        if req.query.get("erase") != ["true"] or len(req.query.get("externalCustomerId", [])) != 1:
            return Reply(400, {"error": "externalCustomerId and erase=true expected"})
        key = f"externalCustomerId:{req.query['externalCustomerId'][0]}"
        if key not in self.contacts:
            return Reply(404, {"error": "Contact not found"})
        del self.contacts[key]
        return Reply(200, b"")


def contact_error(contact: dict[str, Any]) -> str:
    """What Yespo's Contact schema refuses (vendor-specs.md, Contacts: channels [{type: email|sms|viber|
    mobilepush|webpush|..., value}], names and externalCustomerId strings, fields [{id, value}])."""
    for channel in contact.get("channels") or []:
        value = channel.get("value")
        if channel.get("type") not in CHANNEL_TYPES or not isinstance(value, str) or not value:
            return f"invalid channel {channel!r}"
    for key in ("firstName", "lastName", "externalCustomerId", "languageCode", "timeZone"):
        if key in contact and not isinstance(contact[key], str):
            return f"{key} must be a string"
    for part in (contact.get("address") or {}).values():
        if not isinstance(part, str):
            return "address parts must be strings"
    for field in contact.get("fields") or []:
        if set(field) != {"id", "value"} or not isinstance(field["id"], int) or not isinstance(field["value"], str):
            return f"invalid field {field!r}: fields are [{{id, value}}] with a numeric id and a string value"
    return ""


def event_error(event: dict[str, Any], version: str) -> str:
    key = event.get("eventTypeKey")
    if not isinstance(key, str) or not key or len(key) > 100 or FORBIDDEN & set(key):
        return f"invalid eventTypeKey {key!r}"
    value = event.get("keyValue")
    if value is not None and (not isinstance(value, str) or len(value) > 300 or FORBIDDEN & set(value)):
        return f"invalid keyValue {value!r}"
    params = event.get("params", [])
    if not isinstance(params, list) or any(set(p) != {"name", "value"} for p in params):
        return "params must be [{name, value}]"
    # v1: strings, nested JSON escaped; except orderCreated's items, an array in Yespo's own example
    if version == "v1" and any(not isinstance(p["value"], str) and not is_items(p) for p in params):
        return "v1 params values must be strings (escape nested JSON)"
    return ""


def is_items(param: dict[str, Any]) -> bool:
    value = param["value"]
    return param["name"] == "items" and isinstance(value, list) and all(
        isinstance(i, dict) and isinstance(i.get("quantity"), int) and isinstance(i.get("externalItemId"), str) for i in value)


def flatten(contact: dict[str, Any]) -> dict[str, Any]:
    flat = {k: contact[k] for k in ("firstName", "lastName", "externalCustomerId", "languageCode", "timeZone") if k in contact}
    flat.update({c["type"]: c["value"] for c in contact.get("channels", [])})
    flat.update({k: v for k, v in (contact.get("address") or {}).items() if k in ADDRESS_PARTS})
    flat.update({f"field:{f['id']}": f["value"] for f in contact.get("fields", [])})
    return flat


def contact_key(flat: dict[str, Any], dedupe_on: str) -> str:
    """externalCustomerId first (Yespo: it overrides dedupeOn), then the dedupeOn channel."""
    if flat.get("externalCustomerId"):
        return f"externalCustomerId:{flat['externalCustomerId']}"
    channel = "email" if dedupe_on in ("email", "email_or_sms") and flat.get("email") else "sms"
    return f"{channel}:{flat.get(channel)}"
