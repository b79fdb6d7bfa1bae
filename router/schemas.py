"""marshmallow schemas of the Segment spec (what ingest accepts).

One schema serves every call type; ``type``-specific rules (track needs
``event``, group needs ``groupId``...) live in one validator, so a batch of
mixed calls is loaded with a single schema instance. Unknown top-level keys
are kept: clients send extra fields and destinations may want them.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

from destinations.base import EVENT_TYPES

#: analytics.js short paths and the long ones
PATH_TYPES = {
    "i": "identify", "t": "track", "p": "page", "s": "screen", "g": "group", "a": "alias",
    "identify": "identify", "track": "track", "page": "page", "screen": "screen", "group": "group", "alias": "alias",
}
MAX_MESSAGE_ID = 100


class Timestamp(fields.Field):
    """An ISO 8601 date-time; naive ones are taken as UTC."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> datetime:
        if not isinstance(value, str):
            raise ValidationError("must be an ISO 8601 date-time string")
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError(f"not an ISO 8601 date-time: {value[:40]!r}") from None
        if not parsed.tzinfo:
            return parsed.replace(tzinfo=timezone.utc)
        try:  # 0001-01-01T00:00+01:00 is a valid string whose UTC time is before year 1
            return parsed.astimezone(timezone.utc)
        except OverflowError:
            raise ValidationError(f"outside the years 1-9999 in UTC: {value[:40]!r}") from None


class Identifier(fields.Field):
    """A user/group id: a non-empty string, or a number (sent as a string, as the Segment libraries do)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValidationError("must be a string")
        text = str(value)
        if not text.strip():
            raise ValidationError("must not be empty")
        return text


class NullableDict(fields.Dict):
    """``context``/``integrations``: an object; ``null`` and ``[]`` (sent by some tools on delete) mean empty."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> dict[str, Any]:
        if value is None or value == []:
            return {}
        return super()._deserialize(value, attr, data, **kw)


class EventSchema(Schema):
    class Meta:
        unknown = INCLUDE

    type = fields.String(required=True, validate=validate.OneOf(sorted(EVENT_TYPES)))
    messageId = fields.String(validate=validate.Length(min=1, max=MAX_MESSAGE_ID))
    userId = Identifier(allow_none=True)
    anonymousId = Identifier(allow_none=True)
    timestamp = Timestamp(allow_none=True)
    originalTimestamp = Timestamp(allow_none=True)
    sentAt = Timestamp(allow_none=True)
    receivedAt = Timestamp(allow_none=True)
    context = NullableDict(allow_none=True)
    integrations = NullableDict(allow_none=True)
    traits = fields.Dict(allow_none=True)
    properties = fields.Dict(allow_none=True)
    event = fields.String(validate=validate.Length(min=1, max=200))
    name = fields.String(allow_none=True)
    groupId = Identifier()
    previousId = Identifier()

    @validates_schema(skip_on_field_errors=True)
    def _by_type(self, data: Mapping[str, Any], **kw: Any) -> None:
        kind = data["type"]
        if kind == "delete":
            if not data.get("userId"):
                raise ValidationError("a delete call needs userId", "userId")
            return
        if not data.get("userId") and not data.get("anonymousId"):
            raise ValidationError("either userId or anonymousId is required", "userId")
        if kind == "track" and not data.get("event"):
            raise ValidationError("a track call needs an event name", "event")
        if kind == "group" and not data.get("groupId"):
            raise ValidationError("a group call needs groupId", "groupId")
        if kind == "alias" and not data.get("previousId"):
            raise ValidationError("an alias call needs previousId", "previousId")


def error_list(messages: Any, prefix: str = "") -> list[dict[str, str]]:
    """marshmallow errors -> ``[{"path": "properties.total", "message": "..."}]``."""
    out: list[dict[str, str]] = []
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            if key == "_schema":
                path = prefix
            elif isinstance(key, int):
                path = f"{prefix}[{key}]"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            out.extend(error_list(value, path))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        for m in messages:
            out.append({"path": prefix, "message": m.replace("Missing data for required field.", "is required")})
    else:
        out.append({"path": prefix, "message": str(messages)})
    return out
