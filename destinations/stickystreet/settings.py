"""Settings of the Sticky Street destination, named like the API's own parameters.

Facts the vendor does not publish (rate limit, batch size, the wording of its
"busy" and "not found" errors, whether its XML is well-formed) are settings
here or instance options (``batch_size``, ``rate_limit``), so a deployment can
follow what the real API does without a code change.
"""
from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, pre_load, validate, validates_schema

from destinations.base import BaseSettings

DEFAULT_BASE_URL = "https://api.clienttoolbox.com"
DELIMITERS = ("pipe", "comma", "tab")
CUSTOM_FIELD = r"^custom_field_[1-9][0-9]*\Z"


class Scalar(fields.Field):
    """A text value YAML may write as a number (``auto_add: 25``, ``campaign_id: 898989``)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValidationError("Not a text or a number.")
        text = str(value).strip()
        if not text:
            raise ValidationError("Must not be empty.")
        return text


class StickyStreetSettings(BaseSettings):
    base_url = fields.Url(
        require_tld=False,
        load_default=DEFAULT_BASE_URL,
        metadata={"description": "Sticky Street (Client Toolbox) API host, or your vanity domain"},
    )
    path = fields.String(
        load_default="/api.php",
        metadata={"description": "the API script on the host (a vanity domain serves the same path)"},
    )

    user_id = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "API user"},
    )
    user_api_key = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"secret": True, "description": "API key of the API user; added when the request is sent, never stored in a payload"},
    )
    account_id = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "Sticky Street account id"},
    )
    campaigns_to_include = fields.List(
        Scalar(),
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "the campaigns new customers join; a list or \"a,b,c\" (sent comma-separated)"},
    )

    delimiter = fields.String(
        load_default="pipe",
        validate=validate.OneOf(DELIMITERS),
        metadata={"description": (
            "the preferred delimiter of profiles_data; another one is used for a batch whose values contain"
            " it"
        )},
    )
    overwrite_duplicates = fields.String(
        load_default="update",
        validate=validate.OneOf(["update", "yes", "ignore"]),
        metadata={"description": (
            "update: change only the columns sent; yes: blank the record, then write; ignore: keep existing"
            " customers as they are"
        )},
    )
    card_number_generate = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=32),
        metadata={"description": (
            "digits of the card number the vendor generates for a customer sent without one; None: don't "
            "ask"
        )},
    )
    allow_undo = fields.Boolean(
        load_default=False,
        metadata={"description": (
            "ask the vendor to keep an undo state per import (its doc: only while testing the data "
            "structure)"
        )},
    )
    output = fields.String(
        load_default="XML",
        validate=validate.OneOf(["XML", "JSON"]),
        metadata={"description": "answer format asked for: XML or JSON (either is read)"},
    )

    card_number = fields.String(
        load_default="trait",
        validate=validate.OneOf(["trait", "user_id"]),
        metadata={"description": (
            "where card_number comes from: \"trait\" (traits.card_number / cardNumber) or \"user_id\" (the card"
            " IS your id)"
        )},
    )
    auto_add = Scalar(load_default=None, allow_none=True, metadata={"description": (
        "points/visits/amount added to the first campaign for each imported row (a sign-up bonus); "
        "traits.auto_add wins")})
    custom_fields = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1)),
        values=fields.String(validate=validate.Regexp(CUSTOM_FIELD, error="must look like custom_field_N")),
        load_default=dict,
        metadata={"description": "trait name -> custom_field_N (see the vendor's \"Customer Fields - List\" call for the numbers)"},
    )

    record_activity = fields.Boolean(
        load_default=False,
        metadata={"description": "track events named activity_event become record_activity calls; off: every track is skipped"},
    )
    campaign_id = Scalar(load_default=None, allow_none=True,
                         metadata={"description": "the campaign record_activity adds to; required with record_activity"})
    activity_event = fields.String(
        load_default="Order Completed",
        validate=validate.Length(min=1),
        metadata={"description": "the track event (after renames) that records activity"},
    )
    amount_from = fields.List(
        fields.String(),
        load_default=lambda: ["revenue", "total"],
        validate=validate.Length(min=1),
        metadata={"description": "properties tried in order for the order's money amount"},
    )
    amount_unit = fields.String(
        load_default="dollars",
        validate=validate.OneOf(["dollars", "points"]),
        metadata={"description": (
            "dollars: the amount with two decimals; points: whole points, amount x points_per_dollar "
            "rounded down"
        )},
    )
    points_per_dollar = fields.Float(
        load_default=1.0,
        validate=validate.Range(min=0, min_inclusive=False),
        metadata={"description": "with amount_unit: points, the points one dollar is worth"},
    )

    retry_errors = fields.List(
        fields.String(),
        load_default=lambda: ["busy", "try again", "temporarily", "maintenance", "too many requests"],
        metadata={"description": (
            "error texts (case-insensitive substrings) that mean \"busy, try later\" rather than \"refused\" "
            "[unconfirmed wording]"
        )},
    )
    not_found_errors = fields.List(
        fields.String(),
        load_default=lambda: ["not found", "does not exist", "doesn't exist", "no customer", "no such customer"],
        metadata={"description": "error texts that mean the customer to delete is already gone [unconfirmed wording]"},
    )
    lenient_xml = fields.Boolean(
        load_default=True,
        metadata={"description": (
            "accept a success answer whose envelope is complete but whose inner tags are unclosed, the way "
            "the vendor's own example is written (<new>2<new>)"
        )},
    )
    split_refused_batches = fields.Boolean(
        load_default=True,
        metadata={"description": "when a multi-customer import is refused, re-send its halves to find the customer it was about"},
    )

    @pre_load
    def _normalise(self, data: Any, **kw: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        campaigns = data.get("campaigns_to_include")
        if isinstance(campaigns, (str, int)) and not isinstance(campaigns, bool):
            data["campaigns_to_include"] = [c for c in (p.strip() for p in str(campaigns).split(",")) if c]
        if isinstance(data.get("output"), str):
            data["output"] = data["output"].upper()
        return data

    @validates_schema(skip_on_field_errors=False)
    def _consistent(self, data: dict[str, Any], **kw: Any) -> None:
        if data.get("record_activity") and not data.get("campaign_id"):
            raise ValidationError("required when record_activity is on", "campaign_id")
        targets = list(data.get("custom_fields", {}).values())
        doubled = sorted({t for t in targets if targets.count(t) > 1})
        if doubled:
            raise ValidationError(f"{', '.join(doubled)} mapped from more than one trait", "custom_fields")
