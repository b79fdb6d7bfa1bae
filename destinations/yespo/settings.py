"""Settings of the Yespo (eSputnik) destination.

Facts the vendor specs mark unconfirmed are settings, with the documented
behaviour as the default: the host (yespo.io / api.yespo.io / esputnik.com),
409 on a contact upsert meaning "already done", the Basic-auth username.
"""
from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates

from destinations.base import BaseSettings
from destinations.yespo.limits import FORBIDDEN_CHARS

#: sentinel value of ``forbidden_char_replacement``: refuse the event instead of rewriting its name
REJECT = "reject"
#: where ``keyValue`` may come from, tried in the configured order
KEY_SOURCES = ("email", "userId", "phone", "anonymousId")
#: the bulk upsert's ``dedupeOn`` values this plugin can fill from an identify
DEDUPE_ON = ("externalCustomerId", "email", "sms", "email_or_sms")
ORDER_STATUSES = ("INITIALIZED", "IN_PROGRESS", "DELIVERED", "CANCELLED", "ABANDONED_SHOPPING_CART")


class YespoSettings(BaseSettings):
    base_url = fields.Url(
        require_tld=False,
        load_default="https://yespo.io",
        metadata={"description": "Yespo API host (a trailing /api, /api/v1 or /api/v2 copied from the docs is ignored)"},
    )
    api_key = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"secret": True, "description": "Yespo API key, sent as the Basic-auth password"},
    )
    username = fields.String(
        load_default="",
        metadata={"description": "Yespo accepts any username with the key as the password; the plugins send an empty one"},
    )

    # track -----------------------------------------------------------------------
    api_version = fields.String(
        load_default="v1",
        validate=validate.OneOf(["v1", "v2"]),
        metadata={"description": "v1 sends nested parameter values as JSON strings, v2 as raw JSON (events and past events)"},
    )
    key_value_from = fields.List(
        fields.String(validate=validate.OneOf(KEY_SOURCES)),
        load_default=lambda: ["email", "userId"],
        validate=validate.Length(min=1),
        metadata={"description": "keyValue is the first of these the event carries"},
    )
    forbidden_char_replacement = fields.String(
        load_default="_",
        metadata={"description": "what replaces each character Yespo forbids in eventTypeKey, or \"reject\" to refuse such events"},
    )
    past_events_after_days = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1),
        metadata={"description": "track events older than this many days go to /past_events (None: never)"},
    )

    # orders ----------------------------------------------------------------------
    order_events = fields.List(
        fields.String(),
        load_default=lambda: ["Order Completed"],
        metadata={"description": "event names (after renames) that are orders"},
    )
    orders_via = fields.String(
        load_default="event",
        validate=validate.OneOf(["event", "orders_api"]),
        metadata={"description": "\"event\": an orderCreated event on /event; \"orders_api\": POST /api/v1/orders, batched"},
    )
    order_event_key = fields.String(
        load_default="orderCreated",
        metadata={"description": "eventTypeKey of order events; a track renamed to it is an order too"},
    )
    order_items = fields.String(
        load_default="array",
        validate=validate.OneOf(["array", "string"]),
        metadata={"description": (
            "orderCreated's items param: \"array\" as in Yespo's own example (default), or \"string\": the "
            "array escaped into one JSON string, v1's rule for other nested params"
        )},
    )
    order_status = fields.String(
        load_default="INITIALIZED",
        validate=validate.OneOf(ORDER_STATUSES),
        metadata={"description": "used when properties.status is not one of Yespo's statuses"},
    )
    default_currency = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": "used when properties.currency is missing; without it such orders are rejected"},
    )

    # identify --------------------------------------------------------------------
    identify_via = fields.String(
        load_default="contact",
        validate=validate.OneOf(["contact", "contacts"]),
        metadata={"description": "\"contact\": one synchronous POST /api/v1/contact per identify; \"contacts\": bulk, asynchronous"},
    )
    dedupe_on = fields.String(
        load_default="externalCustomerId",
        validate=validate.OneOf(DEDUPE_ON),
        metadata={"description": "bulk contacts dedupeOn: externalCustomerId, email, sms or email_or_sms"},
    )
    restore_deleted = fields.Boolean(
        load_default=False,
        metadata={"description": "bulk upsert: bring back contacts deleted earlier (Yespo skips them otherwise)"},
    )
    contact_fields = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(strict=False),
        load_default=dict,
        metadata={"description": "trait path -> Yespo additional field id, e.g. {\"plan\": 123456, \"address.country\": 123457}"},
    )
    treat_409_as_delivered = fields.Boolean(
        load_default=True,
        metadata={"description": "409 on /contact means \"the same request within a minute\" [unconfirmed]: count it as delivered"},
    )

    def warnings(self, settings: dict[str, Any]) -> list[str]:
        if settings.get("default_currency"):
            return []
        return [
            "default_currency is not set: orders (" + ", ".join(settings.get("order_events") or []) + ") without "
            "properties.currency will be dead letters; set default_currency to send them in that currency"
        ]

    @validates("forbidden_char_replacement")
    def _replacement(self, value: str, **_: Any) -> None:
        if value == REJECT:
            return
        bad = sorted(set(value) & FORBIDDEN_CHARS)
        if bad:
            raise ValidationError(f"must not contain characters Yespo forbids: {' '.join(bad)}")

    @post_load
    def host_only(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """The paths start with /api/: a base_url copied from Yespo's docs (https://yespo.io/api/v1)
        would double them, and the 404s that follow would count GDPR erasures as done."""
        data["base_url"] = re.sub(r"/api(/v[12])?/*\Z", "", data["base_url"].rstrip("/"))
        return data
