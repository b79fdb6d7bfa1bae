"""identify -> a Custobar customer record; delete -> the record that deletes one.

Custobar upserts: only the keys sent change and ``""`` clears a key. So a
record carries exactly the traits the event carries, and a trait sent as
``null`` (or ``""``) clears the field.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, Mapping

from destinations.custobar import values
from destinations.mapping import MISSING, FieldTable, first, traits
from destinations.errors import RejectedEvent

#: target <- the first of these trait paths the event carries
CUSTOMER_FIELDS: FieldTable = {
    "email": ("email",),
    "phone_number": ("phone", "phone_number", "phoneNumber"),
    "first_name": ("firstName", "first_name"),
    "last_name": ("lastName", "last_name"),
    "canonical_id": ("canonical_id", "canonicalId"),
    "can_email": ("can_email", "canEmail"),
    "can_sms": ("can_sms", "canSms"),
    "can_post": ("can_post", "canPost"),
    "can_profile": ("can_profile", "canProfile"),
    "can_push": ("can_push", "canPush"),
    "date_joined": ("createdAt", "created_at", "date_joined", "dateJoined"),
    "last_login": ("lastLogin", "last_login"),
    "birth_date": ("birthday", "birth_date", "birthDate"),
    "gender": ("gender",),
    # Segment's company trait is an object; a plain string is taken too
    "company": ("company.name", "company"),
    "street_address": ("address.street", "street_address", "streetAddress"),
    "street_name": ("street_name", "streetName"),
    "house_number": ("house_number", "houseNumber"),
    "house_number_addition": ("house_number_addition", "houseNumberAddition"),
    "city": ("address.city", "city"),
    "province": ("address.state", "province", "state"),
    "zip_code": ("address.postalCode", "address.postal_code", "zip_code", "zipCode", "postalCode", "postal_code"),
    "country": ("address.country", "country"),
    "language": ("language",),
    "vat_number": ("vat_number", "vatNumber"),
    "shop_id": ("shop_id", "shopId"),
}

#: fields whose values need more than being a single value; phone_number is converted with the region setting
CONVERTERS: dict[str, Callable[[Any, str], Any]] = {
    "can_email": values.boolean,
    "can_sms": values.boolean,
    "can_post": values.boolean,
    "can_profile": values.boolean,
    "can_push": values.boolean,
    "date_joined": values.iso_datetime,
    "last_login": values.iso_datetime,
    "birth_date": values.iso_date,
    "country": values.country_code,
    "language": values.language_code,
    # Custobar types these as string; a number trait (houseNumber: 3) goes as "3"
    **{field: values.text for field in (
        "canonical_id", "first_name", "last_name", "shop_id", "city", "company", "gender", "house_number",
        "house_number_addition", "province", "street_address", "street_name", "vat_number", "zip_code",
    )},
}

#: list fields: the traits that set the list outright, or change it as {"add": [...], "remove": [...]}
#: or with flat keys "tags.add" / "tags.remove"
LIST_FIELDS: FieldTable = {
    "tags": ("tags",),
    "mailing_lists": ("mailing_lists", "mailingLists"),
}
LIST_CHANGES = ("add", "remove")
#: Segment's full-name trait, split into first_name / last_name
NAME = "name"


def customer_record(event: Mapping[str, Any], settings: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The customer an identify describes, and the traits that went nowhere."""
    found = traits(event)
    record: dict[str, Any] = {}
    if not is_blank(event.get("userId")):
        record["external_id"] = values.external_id(event["userId"], settings["external_id_rule"])
    convert = {**CONVERTERS, "phone_number": partial(values.phone, region=settings["default_region"])}
    for target, paths in CUSTOMER_FIELDS.items():
        hit = present(found, paths)
        if hit is not None:
            path, value = hit
            record[target] = "" if is_blank(value) else convert.get(target, values.scalar)(value, field=f"traits.{path}")
    record.update(name_parts(found, record))
    record.update(list_fields(found))
    if not any(record.get(key) for key in ("external_id", "email", "phone_number")):
        raise RejectedEvent("Custobar needs a userId, an email or a phone to identify the customer")
    left_out = custom_fields(found, settings["company_prefix"], record)
    return record, left_out


def name_parts(found: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, str]:
    """first_name / last_name from Segment's ``name`` trait where the split ones are missing
    ("Ada King Lovelace" -> Ada / King Lovelace). ``name`` itself has no Custobar field: as a
    company field it would be refused unless defined."""
    name = found.get(NAME)
    if not isinstance(name, str) or not name.strip():
        return {}
    first_name, _, last_name = name.strip().partition(" ")
    parts = {"first_name": first_name, "last_name": last_name.strip()}
    return {k: v for k, v in parts.items() if v and k not in record}


def deletion_record(event: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """``is_deleted: true`` removes the customer from Custobar for good; ``is_forgotten`` also anonymises it."""
    if is_blank(event.get("userId")):
        raise RejectedEvent("a delete needs the userId Custobar knows the customer by (its external_id)")
    record: dict[str, Any] = {
        "external_id": values.external_id(event["userId"], settings["external_id_rule"]),
        "is_deleted": True,
    }
    if settings["forget_on_delete"]:
        record["is_forgotten"] = True
    return record


def customer_keys(event: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """external_id / email / phone_number of the customer a track event is about, those it carries."""
    keys: dict[str, Any] = {}
    if not is_blank(event.get("userId")):
        keys["external_id"] = values.external_id(event["userId"], settings["external_id_rule"])
    email = first(event, ("context.traits.email", "properties.email"))
    if email is not None:
        keys["email"] = values.scalar(email, "email")
    for path in ("context.traits.phone", "properties.phone"):
        number = first(event, (path,))
        if number is not None:
            keys["phone_number"] = values.phone(number, settings["default_region"], path)
            break
    return keys


def present(found: Mapping[str, Any], paths: tuple[str, ...] | list[str]) -> tuple[str, Any] | None:
    """The first path the traits carry, with its value (``None`` and ``""`` included: they clear).

    An object the table looks into (``company`` for ``company.name``) is not a value itself.
    """
    for path in paths:
        node: Any = found
        for part in path.split("."):
            node = node.get(part, MISSING) if isinstance(node, Mapping) else MISSING
        container = isinstance(node, Mapping) and any(p.startswith(f"{path}.") for p in paths)
        if node is not MISSING and not container:
            return path, node
    return None


def list_fields(found: Mapping[str, Any]) -> dict[str, Any]:
    """tags / mailing_lists set outright, or changed with ``.add`` / ``.remove``."""
    out: dict[str, Any] = {}
    for target, keys in LIST_FIELDS.items():
        for key in keys:
            if key not in found:
                continue
            value = found[key]
            if isinstance(value, Mapping):
                for change in LIST_CHANGES:
                    if change in value:
                        out[f"{target}.{change}"] = values.string_list(value[change], f"traits.{key}.{change}")
            else:
                out[target] = "" if is_blank(value) else values.string_list(value, f"traits.{key}")
            break
        for key in keys:
            for change in LIST_CHANGES:
                flat = f"{key}.{change}"
                if flat in found:
                    out[f"{target}.{change}"] = values.string_list(found[flat], f"traits.{flat}")
    return out


def custom_fields(found: Mapping[str, Any], prefix: str | None, record: dict[str, Any]) -> list[str]:
    """Put the traits Custobar has no field for into ``record`` as ``<prefix>__<snake_case>``
    custom fields; returns the names of those that can't go anywhere."""
    left_out: list[str] = []
    for key, value in found.items():
        if key in KNOWN_PATHS:
            if isinstance(value, Mapping):
                # the parts of an object no field takes (address.line2, company.id)
                left_out.extend(f"{key}.{sub}" for sub in value if f"{key}.{sub}" not in KNOWN_PATHS[key])
            elif value is not None and key not in KNOWN_PATHS[key]:
                # a plain value where the tables read only inside an object ("address": "42 Red Lane")
                left_out.append(key)
            continue
        name = f"{prefix}__{values.snake_case(key)}" if prefix else ""
        sendable = custom_value(value)
        # no prefix, a name with no letters left, a clash with an earlier trait, or an object: nowhere to go
        if name and not name.endswith("__") and name not in record and sendable is not MISSING:
            record[name] = sendable
        else:
            left_out.append(key)
    return left_out


def known_paths() -> dict[str, set[str]]:
    """Top-level trait keys the tables use -> the nested paths under them they use."""
    known: dict[str, set[str]] = {}
    for table in (CUSTOMER_FIELDS, LIST_FIELDS):
        for paths in table.values():
            for path in paths:
                known.setdefault(path.split(".")[0], set()).add(path)
    known[NAME] = {NAME}
    for keys in LIST_FIELDS.values():
        for key in keys:
            known[key] |= {f"{key}.{change}" for change in LIST_CHANGES}
            for change in LIST_CHANGES:
                known.setdefault(f"{key}.{change}", set()).add(f"{key}.{change}")
    return known


KNOWN_PATHS = known_paths()


def custom_value(value: Any) -> Any:
    """A trait value a custom field can hold: a single value or a list of them; null clears."""
    if value is None:
        return ""
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, list) and all(isinstance(v, (str, int, float, bool)) for v in value):
        return value
    return MISSING


def is_blank(value: Any) -> bool:
    return value is None or value == ""


def customer_names(records: list[dict[str, Any]]) -> tuple[Any, list[tuple[str, Any]]]:
    """Who an identify's record is, for :func:`destinations.ordering.same_customer`: its
    external_id, and its email and phone (in the order they name a customer)."""
    record = records[0]
    return record.get("external_id") or None, [(k, record[k]) for k in ("email", "phone_number") if record.get(k)]


def merge_customers(older: list[dict[str, Any]], newer: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two identifies of one customer as one record: the newer value of each key wins.

    List changes compose in order: a list set outright takes later ``.add`` /
    ``.remove`` into itself; otherwise adds and removes accumulate, a later
    remove cancelling an earlier add of the same name and the other way round.
    """
    record = dict(older[0])
    for key, value in newer[0].items():
        target, _, change = key.partition(".")
        if target in LIST_FIELDS and change in LIST_CHANGES:
            merge_list_change(record, target, change, value)
        elif key in LIST_FIELDS:
            record.pop(f"{key}.add", None)
            record.pop(f"{key}.remove", None)
            record[key] = value
        else:
            record[key] = value
    return [record]


def merge_list_change(record: dict[str, Any], target: str, change: str, names: list[str]) -> None:
    if target in record:
        current = [] if record[target] == "" else list(record[target])
        if change == "add":
            record[target] = current + [n for n in names if n not in current]
        else:
            record[target] = [n for n in current if n not in names]
        return
    other = "remove" if change == "add" else "add"
    mine = record.get(f"{target}.{change}", [])
    record[f"{target}.{change}"] = mine + [n for n in names if n not in mine]
    if f"{target}.{other}" in record:
        left = [n for n in record[f"{target}.{other}"] if n not in names]
        if left:
            record[f"{target}.{other}"] = left
        else:
            del record[f"{target}.{other}"]
