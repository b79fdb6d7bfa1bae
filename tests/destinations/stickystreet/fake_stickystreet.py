"""A fake Sticky Street on 127.0.0.1 that reads requests the way the vendor's
doc describes them and answers the way it does.

- POST form-encoded to /api.php (other paths: a 404 page) with API=1.5,
  user_id, user_api_key, account_id; wrong credentials get an error answer.
- ``customers_batch``: delimiter pipe/comma/tab, overwrite_duplicates
  yes/update/ignore, campaigns_to_include; ``profiles_header_1..N`` numbered
  without gaps and naming known columns; ``profiles_data`` one customer per
  line, every line split by the delimiter into exactly N cells; custom_date
  YYYY-MM-DD. The rows are applied to a customer store with the documented
  overwrite_duplicates semantics (update writes every column given, blanks
  included), so tests can see what an import does to existing customers.
- ``record_activity`` needs an existing customer, ``campaign_id`` and ``amount``.
- ``customer_delete`` deletes by ``code``; an unknown code is "Customer not found".
- Answers are XML, or JSON with ``output=JSON``; HTTP 200 either way (the
  vendor's status on errors is unconfirmed, and clients branch on ``status``).

Whatever breaks the doc's rules is answered with an error *and* recorded in
``violations``, which the test fixture checks after every test.
``script(reply, ...)`` makes the next requests get the given replies.
"""
from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from tests.fakes.http import FakeServer, Reply, Request

USER_ID = "john1970"
API_KEY = "1959caadac9b13dcb3-test"
ACCOUNT_ID = "greatwidgets"
DELIMITERS = {"pipe": "|", "comma": ",", "tab": "\t"}
COLUMNS = {
    "card_number", "code", "first_name", "last_name", "email", "phone", "custom_date", "street1", "street2",
    "city", "state", "postal_code", "country", "customer_username", "customer_password", "customer_PIN", "auto_add",
}
CUSTOM_FIELD = re.compile(r"^custom_field_\d+$")
HEADER = re.compile(r"^profiles_header_(\d+)$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class VendorError(Exception):
    """An error the vendor answers with <response status="error">."""


@dataclass
class Activity:
    code: str
    campaign_id: str
    amount: str
    authorization: str | None


@dataclass
class Import:
    form: dict[str, str]
    headers: list[str]
    rows: list[dict[str, str]] = field(default_factory=list)


class FakeStickyStreet(FakeServer):
    def __init__(self) -> None:
        super().__init__(self.handle)
        self.reset()

    def reset(self) -> None:
        """Forget requests and state (one server serves a test module)."""
        self.requests.clear()
        self.scripted: deque[Reply] = deque()
        self.violations: list[str] = []
        #: code -> the customer's fields as the vendor holds them
        self.customers: dict[str, dict[str, str]] = {}
        self.imports: list[Import] = []
        self.activities: list[Activity] = []
        self.deleted: list[str] = []
        #: code -> error message: an import carrying that customer is refused as a whole
        self.refuse_codes: dict[str, str] = {}
        #: answer success imports the way the vendor's doc example is written (<new>2<new>)
        self.doc_style_xml = False

    # -- test helpers -------------------------------------------------------

    def forms(self) -> list[dict[str, str]]:
        return [r.form() for r in self.requests]

    def script(self, *replies: Reply) -> None:
        self.scripted.extend(replies)

    # -- the vendor ---------------------------------------------------------

    def handle(self, req: Request) -> Reply:
        if req.path != "/api.php":
            return Reply(404, "<html><body><h1>Not Found</h1></body></html>", {"Content-Type": "text/html"})
        form = self.check_transport(req)
        if self.scripted:
            return self.scripted.popleft()
        json_out = form.get("output") == "JSON"
        try:
            self.check_credentials(form)
            kind = form.get("type")
            if kind == "customers_batch":
                body = self.customers_batch(form)
            elif kind == "record_activity":
                body = self.record_activity(form)
            elif kind == "customer_delete":
                body = self.customer_delete(form)
            else:
                raise self.violation(f"unknown type {kind!r}")
        except VendorError as exc:
            return Reply(200, error_body(str(exc), json_out), {"Content-Type": content_type(json_out)})
        return Reply(200, success_body(body, json_out, self.doc_style_xml), {"Content-Type": content_type(json_out)})

    def violation(self, message: str) -> VendorError:
        self.violations.append(message)
        return VendorError(message)

    def check_transport(self, req: Request) -> dict[str, str]:
        if req.method != "POST":
            self.violations.append(f"{req.method}: parameters go as POST form data")
        if not req.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            self.violations.append(f"Content-Type {req.headers.get('Content-Type')!r}: parameters go as POST form data")
        try:
            form = req.form()
        except (AssertionError, ValueError) as exc:
            self.violations.append(f"body is not a form: {exc}")
            return {}
        if form.get("API") != "1.5":
            self.violations.append(f"API={form.get('API')!r}, expected 1.5")
        return form

    def check_credentials(self, form: dict[str, str]) -> None:
        for name in ("user_id", "user_api_key", "account_id"):
            if not form.get(name):
                raise self.violation(f"{name} is required")
        if (form["user_id"], form["user_api_key"], form["account_id"]) != (USER_ID, API_KEY, ACCOUNT_ID):
            raise VendorError("Invalid user_id, user_api_key or account_id")

    def customers_batch(self, form: dict[str, str]) -> str:
        if form.get("delimiter") not in DELIMITERS:
            raise self.violation(f"delimiter {form.get('delimiter')!r} is not pipe, comma or tab")
        mode = form.get("overwrite_duplicates")
        if mode not in ("yes", "update", "ignore"):
            raise self.violation(f"overwrite_duplicates {mode!r} is not yes, update or ignore")
        if not [c for c in form.get("campaigns_to_include", "").split(",") if c.strip()]:
            raise self.violation("campaigns_to_include: at least one is required")
        headers = self.headers(form)
        data = form.get("profiles_data")
        if data is None:
            raise self.violation("profiles_data is required")
        imp = Import(form, headers)
        sep = DELIMITERS[form["delimiter"]]
        lines = [line for line in re.split(r"\r\n|\r|\n", data) if line != ""]
        for n, line in enumerate(lines, start=1):
            cells = line.split(sep)
            if len(cells) != len(headers):
                raise self.violation(f"line {n} has {len(cells)} fields, the headers name {len(headers)}")
            row = dict(zip(headers, cells))
            if row.get("custom_date") and not DATE.match(row["custom_date"]):
                raise self.violation(f"line {n}: custom_date {row['custom_date']!r} is not YYYY-MM-DD")
            imp.rows.append(row)
        for row in imp.rows:
            if row.get("code") in self.refuse_codes:
                raise VendorError(self.refuse_codes[row["code"]])
        self.imports.append(imp)
        new = updated = 0
        for row in imp.rows:
            code = row.get("code") or f"generated-{len(self.customers) + 1}"
            existing = self.customers.get(code)
            if existing is None:
                self.customers[code] = {k: v for k, v in row.items() if v != ""}
                new += 1
            elif mode == "yes":
                self.customers[code] = {k: v for k, v in row.items() if v != ""}
                updated += 1
            elif mode == "update":
                existing.update(row)  # every column given is written, a blank cell blanks the field
                updated += 1
        return f'<batch status="imported"><customers><new>{new}</new><updated>{updated}</updated></customers></batch>'

    def headers(self, form: dict[str, str]) -> list[str]:
        numbers = sorted(int(m[1]) for m in (HEADER.match(k) for k in form) if m)
        if not numbers:
            raise self.violation("profiles_header_1: at least one is required")
        if numbers != list(range(1, len(numbers) + 1)):
            raise self.violation(f"profiles_header numbers {numbers} skip or don't start at 1")
        headers = [form[f"profiles_header_{n}"] for n in numbers]
        for name in headers:
            if name not in COLUMNS and not CUSTOM_FIELD.match(name):
                raise self.violation(f"unknown profiles header {name!r}")
        if len(set(headers)) != len(headers):
            raise self.violation(f"a profiles header is repeated: {headers}")
        return headers

    def record_activity(self, form: dict[str, str]) -> str:
        for name in ("code", "campaign_id", "amount"):
            if not form.get(name):
                raise self.violation(f"record_activity: {name} is required")
        if not re.match(r"^\d+([.,]\d+)?$", form["amount"]):
            raise self.violation(f"amount {form['amount']!r} is not like 9.95")
        if form["code"] not in self.customers:
            raise VendorError("Customer not found")
        self.activities.append(Activity(form["code"], form["campaign_id"], form["amount"], form.get("authorization")))
        return '<transaction status="recorded"></transaction>'

    def customer_delete(self, form: dict[str, str]) -> str:
        code = form.get("code")
        if not code:
            raise self.violation("customer_delete: code is required")
        if code not in self.customers:
            raise VendorError("Customer not found")
        del self.customers[code]
        self.deleted.append(code)
        return f'<customer status="deleted"><code>{escape(code)}</code></customer>'


def content_type(json_out: bool) -> str:
    return "application/json" if json_out else "text/xml; charset=utf-8"


def success_body(inner_xml: str, json_out: bool, doc_style: bool = False) -> str:
    if json_out:
        counts = {m[1]: int(m[2]) for m in re.finditer(r"<(new|updated)>(\d+)</", inner_xml)}
        return json.dumps({"response": {"status": "success", **({"customers": counts} if counts else {})}})
    if doc_style:
        # the vendor's example verbatim in shape: closing tags written as opening ones
        inner_xml = re.sub(r"</(new|updated|customers)>", r"<\1>", inner_xml)
    return f'<response status="success">\n{inner_xml}\n</response>\n'


def error_body(message: str, json_out: bool) -> str:
    if json_out:
        return json.dumps({"response": {"status": "error", "error": message}})
    return f'<response status="error">\n<error>{escape(message)}</error>\n</response>\n'
