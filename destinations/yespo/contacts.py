"""Segment identify -> Yespo Contact, and what a bulk upsert must list for it. Pure."""
from __future__ import annotations

from typing import Any, Mapping

from destinations.base import require
from destinations.mapping import first, get_path, is_empty, pick, traits
from destinations.yespo.common import IDENTITY, compact_json

#: identify: paths are read from the event with ``traits`` = context.traits + traits
CHANNELS = {
    "email": ("traits.email",),
    "sms": ("traits.phone", "traits.mobile"),
}
NAMES = {
    "firstName": ("traits.firstName", "traits.first_name", "traits.firstname"),
    "lastName": ("traits.lastName", "traits.last_name", "traits.lastname"),
}
ADDRESS = {
    "region": ("traits.address.state", "traits.address.region"),
    "town": ("traits.address.city",),
    "address": ("traits.address.street",),
    "postcode": ("traits.address.postalCode", "traits.address.postal_code", "traits.address.zip"),
}
LANGUAGE = ("traits.languageCode", "traits.language", "context.locale")
TIME_ZONE = ("traits.timeZone", "traits.timezone", "context.timezone")
#: scalar contact fields, in the order the contact body lists them
CONTACT_FIELDS = ("firstName", "lastName", "externalCustomerId", "languageCode", "timeZone")


def contact_body(event: Mapping[str, Any], field_ids: Mapping[str, int]) -> dict[str, Any]:
    """Yespo's Contact: channels, names, externalCustomerId, address, custom fields, language, time zone."""
    view = {**event, "traits": traits(event)}
    channels = [{"type": kind, "value": str(value)} for kind, value in pick(view, CHANNELS).items()]
    require(channels, "identify has no email or phone; a Yespo contact needs at least one channel")
    scalars = {
        **names(view),
        "externalCustomerId": first(view, IDENTITY["externalCustomerId"]),
        "languageCode": language_code(view),
        "timeZone": first(view, TIME_ZONE),
    }
    contact: dict[str, Any] = {"channels": channels}
    contact.update((k, str(scalars[k])) for k in CONTACT_FIELDS if scalars.get(k) is not None)
    address = {k: str(v) for k, v in pick(view, ADDRESS).items()}
    if address:
        contact["address"] = address
    custom = custom_fields(view["traits"], field_ids)
    if custom:
        contact["fields"] = custom
    return contact


def names(view: Mapping[str, Any]) -> dict[str, Any]:
    """firstName/lastName, or the two halves of ``traits.name`` when neither is given."""
    out = pick(view, NAMES)
    full = get_path(view, "traits.name")
    if not out and isinstance(full, str) and full.strip():
        first_name, _, last_name = full.strip().partition(" ")
        out = {"firstName": first_name, "lastName": last_name.strip() or None}
    return out


def language_code(view: Mapping[str, Any]) -> str | None:
    """ISO 639-1 from a language trait or the locale: "en-US" -> "en"."""
    value = first(view, LANGUAGE)
    if not isinstance(value, str):
        return None
    return value.replace("_", "-").split("-")[0].lower() or None


def custom_fields(user_traits: Mapping[str, Any], field_ids: Mapping[str, int]) -> list[dict[str, Any]]:
    """``[{id, value}]`` for the configured traits the user has, in the configured order."""
    out = []
    for path, field_id in field_ids.items():
        value = get_path(user_traits, path)
        if not is_empty(value):
            out.append({"id": field_id, "value": value if isinstance(value, str) else compact_json(value)})
    return out


def contact_field_names(contact: Mapping[str, Any]) -> tuple[str, ...]:
    """The bulk upsert's ``contactFields`` for exactly what ``contact`` carries (others would be nulled)."""
    carried = [c["type"] for c in contact["channels"]]
    carried += [k for k in CONTACT_FIELDS if k in contact]
    carried += [k for k in ADDRESS if k in contact.get("address", {})]
    return tuple(carried)


#: the channels each bulk ``dedupeOn`` finds a contact by (after externalCustomerId, which Yespo prefers)
IDENTITY_CHANNELS = {
    "externalCustomerId": ("email", "sms"),
    "email": ("email",),
    "sms": ("sms",),
    "email_or_sms": ("email", "sms"),
}


def contact_names(contact: Mapping[str, Any], dedupe_on: str) -> tuple[str | None, list[tuple[str, str]]]:
    """Who a contact is, for :func:`destinations.ordering.same_customer`: its externalCustomerId,
    and the channels Yespo dedupes on."""
    own = str(contact["externalCustomerId"]) if contact.get("externalCustomerId") else None
    channels = {c["type"]: str(c["value"]) for c in contact.get("channels", ())}
    found = [(kind, channels[kind].lower() if kind == "email" else channels[kind])
             for kind in IDENTITY_CHANNELS[dedupe_on] if kind in channels]
    return own, found


def merge_contacts(older: Mapping[str, Any], newer: Mapping[str, Any]) -> dict[str, Any]:
    """One contact from two identifies of the same person: the newer value of each field wins,
    fields only the older one has are kept (channels by type, custom fields by id)."""
    channels = {c["type"]: c for c in older.get("channels", ())}
    channels.update((c["type"], c) for c in newer.get("channels", ()))
    merged: dict[str, Any] = {"channels": list(channels.values())}
    merged.update((k, newer.get(k, older.get(k))) for k in CONTACT_FIELDS if k in older or k in newer)
    address = {**older.get("address", {}), **newer.get("address", {})}
    if address:
        merged["address"] = address
    custom = {f["id"]: f for f in older.get("fields", ())}
    custom.update((f["id"], f) for f in newer.get("fields", ()))
    if custom:
        merged["fields"] = list(custom.values())
    return merged
