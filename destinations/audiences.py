"""Engage (Personas) audiences as profile properties. Pure.

Segment sends an audience to a user-property destination as an identify with
the snake_cased audience name as a true/false trait
(``order_completed_last_30days: true``), and to a track-based one as
``Audience Entered`` / ``Audience Exited`` with ``properties.audience_key``.
The router may receive either form whatever the destination is; a destination
that stores profile properties calls :func:`profile_form` first and so always
maps the identify form:

- ``Audience Entered`` / ``Audience Exited`` -> an identify with the trait
  ``<audience_key>: true`` / ``false`` (the key from ``properties.audience_key``,
  else ``context.personas.computation_key``);
- an identify that ``context.personas`` marks as an audience and whose trait
  is the audience's name in another case ("Order Completed Last 30 Days")
  gets that trait under the snake_cased key: the ``computation_key`` when
  given, else :func:`audience_key` of a true/false trait whose name has spaces.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from destinations.base import require
from destinations.mapping import get_path, is_empty

ENTERED = "Audience Entered"
EXITED = "Audience Exited"
#: what an identify made from an audience event keeps of the track event
KEPT = ("userId", "anonymousId", "messageId", "timestamp", "receivedAt", "sentAt", "originalTimestamp",
        "context", "integrations", "writeKey", "channel", "version")


def is_audience_event(event: Mapping[str, Any]) -> bool:
    return event.get("type") == "track" and event.get("event") in (ENTERED, EXITED)


def audience_key(name: str) -> str:
    """Segment's snake_case of an audience name: words joined by ``_``, a number joined to the
    word after it, as in Segment's example "Order Completed Last 30 Days" -> order_completed_last_30days."""
    words = [w.lower() for part in re.split(r"[^0-9A-Za-z]+", name) for w in re.sub(r"([a-z])([A-Z])", r"\1 \2", part).split()]
    out = ""
    for n, word in enumerate(words):
        joined = n > 0 and words[n - 1].isdigit() and not word.isdigit()
        out += word if n == 0 or joined else f"_{word}"
    return out


def profile_form(event: dict[str, Any]) -> dict[str, Any]:
    """The event as a destination that takes profile properties should map it (see the module doc)."""
    if is_audience_event(event):
        return audience_identify(event)
    if event.get("type") == "identify" and is_audience(get_path(event, "context.personas", None)):
        return snake_cased(event)
    return event


def synced_audience(event: dict[str, Any]) -> str | None:
    """The audience key an event syncs, in either form (None for other events), so a destination
    with no field for it can skip the event with that reason instead of dropping the audience."""
    if is_audience_event(event):
        return audience_trait(event)
    personas = get_path(event, "context.personas", None)
    if event.get("type") != "identify" or not is_audience(personas):
        return None
    traits = snake_cased(event).get("traits")
    if not isinstance(traits, Mapping):
        return None
    given = personas.get("computation_key")
    if isinstance(given, str) and given in traits:
        return given
    # no computation_key: the trait snake_cased from the audience's name
    original = event.get("traits") or {}
    return next((key for key in traits if key not in original), None)


def audience_trait(event: Mapping[str, Any]) -> str:
    """The trait an ``Audience Entered`` / ``Exited`` event becomes: its audience key (never another
    trait, so a skip message names the audience, not ``email``)."""
    key = get_path(event, "properties.audience_key", None)
    if is_empty(key):
        key = get_path(event, "context.personas.computation_key", None)
    require(
        isinstance(key, str) and key.strip(),
        f"{event.get('event')} has no properties.audience_key (nor context.personas.computation_key)",
    )
    return key.strip()


def audience_identify(event: Mapping[str, Any]) -> dict[str, Any]:
    identify = {k: event[k] for k in KEPT if k in event}
    identify["type"] = "identify"
    identify["traits"] = {audience_trait(event): event.get("event") == ENTERED}
    return identify


def is_audience(personas: Any) -> bool:
    """``context.personas`` of an audience sync (computation_class "audience", or a computation_key alone)."""
    if not isinstance(personas, Mapping):
        return False
    kind = personas.get("computation_class")
    return kind == "audience" or (kind is None and isinstance(personas.get("computation_key"), str))


def snake_cased(event: dict[str, Any]) -> dict[str, Any]:
    """The identify with an audience-name trait under its key (the computation_key when given)."""
    traits = event.get("traits")
    if not isinstance(traits, Mapping):
        return event
    given = get_path(event, "context.personas.computation_key", None)
    renamed: dict[str, Any] = {}
    for name, value in traits.items():
        if isinstance(given, str) and given:
            key = given if squash(name) == squash(given) else name
        else:
            # no key given: a true/false trait written as a name ("VIP Users") is the audience
            key = audience_key(name) if isinstance(value, bool) and " " in name.strip() else name
        renamed[key if key not in traits or key == name else name] = value
    if list(renamed) == list(traits):
        return event
    return {**event, "traits": renamed}


def squash(name: str) -> str:
    """A name without case or separators, to tell "Order Completed Last 30 Days" is order_completed_last_30days."""
    return re.sub(r"[^0-9a-z]", "", name.lower())
