"""Settings of the Custobar destination.

What Custobar's docs leave open is a setting here: the auth scheme (older
accounts use ``Token``, newer ones ``Bearer``), the events path, and how
many records one upload may carry.
"""
from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from destinations.base import BaseSettings

#: Segment track name -> Custobar event type; the built-in Custobar types that match the e-commerce spec
DEFAULT_EVENT_TYPES = {"Product Viewed": "BROWSE", "Product Added": "BASKET_ADD"}

EXTERNAL_ID_RULES = ("reject", "strip", "hash")


class CustobarSettings(BaseSettings):
    company = fields.String(
        load_default=None,
        validate=validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9-]*\Z"),
        metadata={"description": "the account's subdomain: https://<company>.custobar.com (or set base_url)"},
    )
    token = fields.String(
        load_default=None,
        metadata={"secret": True, "description": "API token (Token or Bearer auth, see auth_scheme); or username + password"},
    )
    auth_scheme = fields.String(
        load_default="Token",
        validate=validate.OneOf(["Token", "Bearer"]),
        metadata={"description": (
            "\"Token\" (the older style, what the vendor plugins send) or \"Bearer\" (newer access tokens and "
            "API keys)"
        )},
    )
    username = fields.String(
        load_default=None,
        metadata={"description": "Basic auth, the alternative to a token (the vendor discourages it for production)"},
    )
    password = fields.String(
        load_default=None,
        metadata={"secret": True, "description": "password for HTTP Basic auth, with username (Custobar prefers a token)"},
    )
    events_path = fields.String(
        load_default="/api/events/",
        validate=validate.Regexp(r"^/"),
        metadata={"description": "the old docs show /api/events/ (not /api/events/upload/); unconfirmed"},
    )
    max_records_per_request = fields.Integer(
        load_default=500,
        validate=validate.Range(min=1, max=10_000),
        metadata={"description": "records (customers, sale rows, events) per upload request; Custobar documents no limit"},
    )
    external_id_rule = fields.String(
        load_default="reject",
        validate=validate.OneOf(EXTERNAL_ID_RULES),
        metadata={"description": "what to do with a userId that is not letters, numbers and dashes only"},
    )
    default_region = fields.String(
        load_default=None,
        validate=validate.Regexp(r"^[A-Za-z]{2}\Z"),
        metadata={"description": (
            "ISO 3166 region for phone numbers written without a country prefix (e.g. \"FI\"); None: such "
            "numbers are rejected"
        )},
    )
    company_prefix = fields.String(
        load_default=None,
        validate=validate.Regexp(r"^[A-Za-z0-9]+\Z"),
        metadata={"description": (
            "traits with no Custobar field go to custom fields <company_prefix>__<snake_case>; None: left "
            "out and counted"
        )},
    )
    event_types = fields.Dict(
        keys=fields.String(),
        values=fields.String(validate=validate.Regexp(r"^[A-Z][A-Z0-9_]*\Z", error="Custobar event types are in capitals")),
        load_default=lambda: dict(DEFAULT_EVENT_TYPES),
        metadata={"description": "Segment track name -> Custobar event type (capitals); other track events are skipped"},
    )
    sale_events = fields.List(
        fields.String(validate=validate.Length(min=1)),
        load_default=lambda: ["Order Completed"],
        metadata={"description": "track names (after events.rename) that are orders: Custobar sales, a row per product"},
    )
    account_currency = fields.String(
        load_default=None,
        validate=validate.Regexp(r"^[A-Za-z]{3}\Z"),
        metadata={"description": "the Custobar account's currency: orders in it are sent with sale_exchange_rate 1"},
    )
    forget_on_delete = fields.Boolean(
        load_default=False,
        metadata={"description": "a delete also sends is_forgotten: true (anonymises the customer; irreversible)"},
    )

    @validates_schema(skip_on_field_errors=False)
    def check_host_and_auth(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, str] = {}
        if not data.get("base_url") and not data.get("company"):
            errors["company"] = "set company (https://<company>.custobar.com) or base_url"
        basic = data.get("username") or data.get("password")
        if data.get("token") and basic:
            errors["token"] = "use either token or username/password, not both"
        elif not data.get("token") and not (data.get("username") and data.get("password")):
            errors["token"] = "set token, or username and password"
        if errors:
            raise ValidationError(errors)

    def warnings(self, settings: dict[str, Any]) -> list[str]:
        if settings.get("account_currency"):
            return []
        return [
            "account_currency is not set: orders that carry properties.currency without properties.exchange_rate "
            "will be dead letters (Custobar takes sale_currency only with sale_exchange_rate); set account_currency "
            "to the Custobar account's currency so orders in it are sent with rate 1"
        ]

    @post_load
    def resolve(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        base = data.get("base_url") or f"https://{data['company']}.custobar.com"
        base = base.rstrip("/")
        # the paths start with /api/: accept a base_url copied from the docs with it
        data["base_url"] = base[: -len("/api")] if base.endswith("/api") else base
        for name in ("default_region", "account_currency"):
            if data.get(name):
                data[name] = data[name].upper()
        return data
