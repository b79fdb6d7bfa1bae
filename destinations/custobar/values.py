"""Field values the way Custobar takes them. Each converter returns the value to send
or rejects the event, naming the Segment field and what is wrong with it."""
from __future__ import annotations

import hashlib
import math
import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import phonenumbers

from destinations.errors import RejectedEvent

#: matched with fullmatch: "$" would also take a final newline
EXTERNAL_ID = re.compile(r"[A-Za-z0-9-]+")
NOT_IN_EXTERNAL_ID = re.compile(r"[^A-Za-z0-9-]")
CENT = Decimal("1")


def external_id(value: Any, rule: str, field: str = "userId") -> str:
    """A customer id as Custobar allows it: letters, numbers and dashes only.

    ``rule`` says what to do with an id that breaks that: ``reject`` the event,
    ``strip`` the other characters, or ``hash`` it (sha256 hex). Ids that are
    already valid are sent unchanged whatever the rule.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RejectedEvent(f"{field} must be a string or a number to become Custobar's external_id")
    text = str(value)
    if EXTERNAL_ID.fullmatch(text):
        return text
    if rule == "hash":
        return hashlib.sha256(text.encode()).hexdigest()
    if rule == "strip":
        stripped = NOT_IN_EXTERNAL_ID.sub("", text)
        if stripped:
            return stripped
    bad = "".join(sorted(set(NOT_IN_EXTERNAL_ID.findall(text)))) or "nothing"
    raise RejectedEvent(
        f"{field} {text!r} can't be Custobar's external_id: letters, numbers and dashes only "
        f"(it has {bad!r}); external_id_rule 'strip' or 'hash' maps such ids"
    )


def decimal(value: Any, field: str) -> Decimal:
    """A number from JSON or its text, exactly (no float arithmetic on money)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RejectedEvent(f"{field} must be a number, got {type(value).__name__}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise RejectedEvent(f"{field} must be a number, got {value!r}") from None
    if not number.is_finite():
        raise RejectedEvent(f"{field} must be a finite number, got {value!r}")
    return number


def to_cents(amount: Decimal, field: str) -> int:
    """``amount`` in whole cents; one with more digits than Decimal keeps (28) is refused, naming ``field``."""
    try:
        return int((amount * 100).quantize(CENT, rounding=ROUND_HALF_UP))
    except InvalidOperation:
        raise RejectedEvent(f"{field} is too large to send as cents: {amount}") from None


def cents(value: Any, field: str) -> int:
    """Money as integer cents, rounded half up from the decimal text (19.99 -> 1999, never 1998)."""
    return to_cents(decimal(value, field), field)


def phone(value: Any, region: str | None, field: str) -> str:
    """A phone number in E.164 (+358401234567), as Custobar wants it country-prefixed."""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise RejectedEvent(f"{field} must be a phone number string")
    try:
        number = phonenumbers.parse(str(value), region)
    except phonenumbers.NumberParseException as exc:
        hint = "" if region else " (set default_region for numbers without a country prefix)"
        raise RejectedEvent(f"{field} {value!r} is not a phone number: {exc}{hint}") from None
    if not phonenumbers.is_valid_number(number):
        raise RejectedEvent(f"{field} {value!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def country_code(value: Any, field: str) -> str:
    """ISO 3166-1 alpha-2, upper case as in Custobar's examples ("GB")."""
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z]{2}", value.strip()):
        return value.strip().upper()
    raise RejectedEvent(f"{field} {value!r} is not a two-letter ISO country code (e.g. FI)")


def language_code(value: Any, field: str) -> str:
    """The language part of a code or locale ("en-US" -> "EN"), upper case as in Custobar's examples."""
    if isinstance(value, str):
        primary = re.split(r"[-_]", value.strip(), maxsplit=1)[0]
        if re.fullmatch(r"[A-Za-z]{2,3}", primary):
            return primary.upper()
    raise RejectedEvent(f"{field} {value!r} is not a language code (e.g. fi or en-US)")


def boolean(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise RejectedEvent(f"{field} must be true or false, got {value!r}")


def iso_datetime(value: Any, field: str) -> str:
    """An ISO-8601 date or datetime, sent as given (Custobar parses it; no timezone means the account's)."""
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            return value.strip()
    raise RejectedEvent(f"{field} {value!r} is not an ISO-8601 date or datetime")


def iso_date(value: Any, field: str) -> str:
    """The date part of an ISO-8601 date or datetime ("1991-06-14")."""
    return datetime.fromisoformat(iso_datetime(value, field)).date().isoformat()


def scalar(value: Any, field: str) -> Any:
    """A plain value (text, number, boolean) sent as given."""
    if isinstance(value, (str, int, float, bool)):
        return value
    raise RejectedEvent(f"{field} must be a single value, got {type(value).__name__}")


def text(value: Any, field: str) -> str:
    """A field Custobar types as string (zip_code, house_number, ...): a number goes as its digits."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    raise RejectedEvent(f"{field} must be a single value (text or a number), got {type(value).__name__}")


def string_list(value: Any, field: str) -> list[str]:
    """A list of names (tags, mailing lists); one name may come as a plain string."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        return [str(v) for v in value]
    raise RejectedEvent(f"{field} must be a name or a list of names")


def snake_case(name: str) -> str:
    """``loyaltyLevel`` / ``Loyalty Level`` / ``loyalty-level`` -> ``loyalty_level``."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()
