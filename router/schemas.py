"""marshmallow schemas of the Segment spec (what ingest accepts).

One schema serves every call type; ``type``-specific rules (track needs
``event``, group needs ``groupId``...) live in one validator, so a batch of
mixed calls is loaded with a single schema instance. Unknown top-level keys
are kept: clients send extra fields and destinations may want them.

``EventSchema`` is the spec; ingest runs ``load_event``, the same rules as plain
dict checks (marshmallow's per-field machinery was most of ingest's CPU). A test
holds the two to the same results and error messages on generated events.
"""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Mapping

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

from destinations.base import EVENT_TYPES

#: analytics.js short paths and the long ones
PATH_TYPES = {
    "i": "identify", "t": "track", "p": "page", "s": "screen", "g": "group", "a": "alias",
    "identify": "identify", "track": "track", "page": "page", "screen": "screen", "group": "group", "alias": "alias",
}
MAX_MESSAGE_ID = 100
#: timestamps up to this many characters are cached; the common-case loader takes no longer ones
SHORT_TIMESTAMP = 40


def timestamp(value: Any) -> datetime:
    """An ISO 8601 date-time in UTC; naive ones are taken as UTC. Raises ``ValidationError``."""
    if not isinstance(value, str):
        raise ValidationError("must be an ISO 8601 date-time string")
    return _cached_timestamp(value) if len(value) <= SHORT_TIMESTAMP else _timestamp(value)


def _timestamp(value: str) -> datetime:
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


#: a batch's events mostly share sentAt, and often their timestamps (only short strings: bounded memory)
_cached_timestamp = lru_cache(maxsize=1024)(_timestamp)


def identifier(value: Any) -> str:
    """A user/group id as a string. Raises ``ValidationError``."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValidationError("must be a string")
    text = str(value)
    if not text.strip():
        raise ValidationError("must not be empty")
    return text


def user_identifier(value: Any) -> str | None:
    """A userId/anonymousId: ``""`` is none at all (analytics-python sends ``user_id=""`` as it is,
    and Segment takes the event as anonymous); else ``identifier``. Raises ``ValidationError``."""
    return None if value == "" else identifier(value)


class Timestamp(fields.Field):
    """An ISO 8601 date-time; naive ones are taken as UTC."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> datetime:
        return timestamp(value)


class Identifier(fields.Field):
    """A user/group id: a non-empty string, or a number (sent as a string, as the Segment libraries do)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> str:
        return identifier(value)


class UserIdentifier(fields.Field):
    """A userId/anonymousId: as ``Identifier``, with ``""`` taken as none (``user_identifier``)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> str | None:
        return user_identifier(value)


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
    userId = UserIdentifier(allow_none=True)
    anonymousId = UserIdentifier(allow_none=True)
    timestamp = Timestamp(allow_none=True)
    originalTimestamp = Timestamp(allow_none=True)
    sentAt = Timestamp(allow_none=True)
    receivedAt = Timestamp(allow_none=True)
    context = NullableDict(allow_none=True)
    integrations = NullableDict(allow_none=True)
    traits = fields.Dict(allow_none=True)
    properties = fields.Dict(allow_none=True)
    #: null on other calls too (rudder-sdk-js sends it so); a track without one fails ``by_type``
    event = fields.String(allow_none=True, validate=validate.Length(min=1, max=200))
    name = fields.String(allow_none=True)
    groupId = Identifier()
    previousId = Identifier()

    @validates_schema(skip_on_field_errors=True)
    def _by_type(self, data: Mapping[str, Any], **kw: Any) -> None:
        by_type(data)


def by_type(data: Mapping[str, Any]) -> None:
    """What each call type needs (track: an event name...). Raises ``ValidationError``."""
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


_NULL = "Field may not be null."
_STRING = "Not a valid string."
_MAPPING = "Not a valid mapping type."
_TYPES = frozenset(EVENT_TYPES)
_ONE_OF = "Must be one of: " + ", ".join(sorted(EVENT_TYPES)) + "."


def _string(value: Any, null_ok: bool, lo: int = 0, hi: int = 0) -> Any:
    if value is None:
        if null_ok:
            return None
        raise ValidationError(_NULL)
    if not isinstance(value, str):
        raise ValidationError(_STRING)
    if hi and not lo <= len(value) <= hi:
        raise ValidationError(f"Length must be between {lo} and {hi}.")
    return value


def _mapping(value: Any, empty_list_ok: bool) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        return dict(value)
    if empty_list_ok and value == []:
        return {}
    raise ValidationError(_MAPPING)


def _nullable(check: Any) -> Any:
    return lambda v: None if v is None else check(v)


def _required(check: Any) -> Any:
    def run(v: Any) -> Any:
        if v is None:
            raise ValidationError(_NULL)
        return check(v)
    return run


def _type(value: Any) -> str:
    value = _string(value, False)
    if value not in _TYPES:
        raise ValidationError(_ONE_OF)
    return value


#: EventSchema's fields in its order, as plain functions (value -> loaded value, or ValidationError)
_FIELDS: dict[str, Any] = {
    "type": _type,
    "messageId": lambda v: _string(v, False, 1, MAX_MESSAGE_ID),
    "userId": _nullable(user_identifier),
    "anonymousId": _nullable(user_identifier),
    "timestamp": _nullable(timestamp),
    "originalTimestamp": _nullable(timestamp),
    "sentAt": _nullable(timestamp),
    "receivedAt": _nullable(timestamp),
    "context": lambda v: _mapping(v, True),
    "integrations": lambda v: _mapping(v, True),
    "traits": lambda v: _mapping(v, False),
    "properties": lambda v: _mapping(v, False),
    "event": lambda v: _string(v, True, 1, 200),
    "name": lambda v: _string(v, True),
    "groupId": _required(identifier),
    "previousId": _required(identifier),
}


def load_event(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``EventSchema().load(raw)`` as plain dict checks: the same loaded event (the schema's fields
    first, in its order, so ``type`` leads what vendors and the demo receiver see) and the same
    ``ValidationError.messages``, at a fraction of the CPU (ingest's hot path)."""
    event = _load_common(raw) if type(raw) is dict else None
    return typed(_load_fields(raw) if event is None else event)


def typed(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` once ``by_type`` passed it; its error reported under the field's name, as
    ``EventSchema`` reports it."""
    try:
        by_type(event)
    except ValidationError as exc:
        raise ValidationError({exc.field_name: exc.messages}) from None
    return event


def _load_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The reference of ``_load_common``: every field through its check, errors collected."""
    event: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, load in _FIELDS.items():
        if name in raw:
            try:
                event[name] = load(raw[name])
            except ValidationError as exc:
                errors[name] = exc.messages  # type: ignore[assignment]
        elif name == "type":
            errors[name] = ["Missing data for required field."]
    if errors:
        raise ValidationError(errors)
    _add_unknown(event, raw)
    return event


def _add_unknown(event: dict[str, Any], raw: Mapping[str, Any]) -> None:
    """Keys the schema doesn't know are kept, after its fields, in the order they came."""
    if len(event) < len(raw):
        for key, value in raw.items():
            if key not in _FIELDS:
                event[key] = value


_ABSENT = object()
_STRINGS = (("messageId", 1, MAX_MESSAGE_ID), ("event", 1, 200))


def load_common(raw: dict[str, Any]) -> dict[str, Any] | None:
    """``load_event`` for an event whose every field is well formed, else None (no error: ask
    ``load_event``). Its time fields are strings of at most ``SHORT_TIMESTAMP`` characters."""
    event = _load_common(raw)
    if event is None:
        return None
    try:
        by_type(event)
    except ValidationError:
        return None
    return event


def _load_common(raw: dict[str, Any]) -> dict[str, Any] | None:
    """``_load_fields`` for an event whose every field is well-formed (nearly all of them), without
    a call per field: the same loaded event, or None when any field needs the reference (an error,
    a number for an id, a long timestamp...). By-type rules are left to the caller."""
    get = raw.get
    kind = get("type")
    if type(kind) is not str or kind not in _TYPES:
        return None
    event: dict[str, Any] = {"type": kind}
    for name, lo, hi in _STRINGS[:1]:
        value = get(name, _ABSENT)
        if value is not _ABSENT:
            if type(value) is not str or not lo <= len(value) <= hi:
                return None
            event[name] = value
    for name in ("userId", "anonymousId"):
        value = get(name, _ABSENT)
        if value is not _ABSENT:
            if value is not None and (type(value) is not str or not value or value.isspace()):
                return None  # a number, or what identifier() rejects
            event[name] = value
    for name in ("timestamp", "originalTimestamp", "sentAt", "receivedAt"):
        value = get(name, _ABSENT)
        if value is not _ABSENT:
            if value is not None:
                if type(value) is not str or len(value) > SHORT_TIMESTAMP:
                    return None
                try:
                    value = _cached_timestamp(value)
                except ValidationError:
                    return None
            event[name] = value
    for name in ("context", "integrations", "traits", "properties"):
        value = get(name, _ABSENT)
        if value is not _ABSENT:
            if type(value) is dict:
                value = dict(value)
            elif value is not None:
                return None  # [] (empty for some), or an error
            event[name] = value
    for name, lo, hi in _STRINGS[1:]:
        value = get(name, _ABSENT)
        if value is not _ABSENT:
            if type(value) is not str or not lo <= len(value) <= hi:
                return None
            event[name] = value
    value = get("name", _ABSENT)
    if value is not _ABSENT:
        if value is not None and type(value) is not str:
            return None
        event["name"] = value
    for name in ("groupId", "previousId"):
        value = get(name, _ABSENT)
        if value is not _ABSENT:
            if type(value) is not str or not value or value.isspace():
                return None
            event[name] = value
    _add_unknown(event, raw)
    return event


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
