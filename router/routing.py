"""Which destination instances get an event.

An instance gets an event when it is enabled, its plugin handles the type,
it subscribes to the type, its ``events`` filter admits a track event's
name, and the event's ``integrations`` object allows it (``All`` is the
default; keys match the instance name, the plugin's display name or an alias).
Deletes ignore ``subscribe`` and ``integrations``: every destination that can delete gets them.
"""
from __future__ import annotations

import copy
from typing import Any, Iterable, Mapping

from router.config import DestinationConfig


class Router:
    def __init__(self, destinations: Iterable[DestinationConfig]) -> None:
        self.routes = [
            (d, (d.name, d.plugin.display_name, d.plugin.slug, *d.plugin.aliases))
            for d in destinations
            if d.enabled
        ]

    def destinations_for(self, event: Mapping[str, Any]) -> list[DestinationConfig]:
        kind = event["type"]
        integrations = event.get("integrations") or {}
        out = []
        for dest, names in self.routes:
            # a GDPR delete reaches every destination that can delete, whatever it subscribes to
            # and whatever its integrations object says: nothing may keep an erasure from a vendor
            if kind not in dest.handles or (kind != "delete" and kind not in dest.subscribe):
                continue
            if kind == "track" and not admits(dest, event.get("event", "")):
                continue
            if kind != "delete" and integrations and not allowed(integrations, names):
                continue
            out.append(dest)
        return out


def admits(dest: DestinationConfig, name: str) -> bool:
    if dest.only is not None and name not in dest.only and dest.rename.get(name) not in dest.only:
        return False
    return name not in dest.exclude


def allowed(integrations: Mapping[str, Any], names: Iterable[str]) -> bool:
    """Segment's rule: a destination named in ``integrations`` follows its own value, else ``All`` (default true)."""
    for name in names:
        if name in integrations:
            return integrations[name] is not False
    return integrations.get("All", True) is not False


def renamed(event: dict[str, Any], rename: Mapping[str, str]) -> dict[str, Any]:
    """The event as the destination sees it, with ``events.rename`` applied to a track name."""
    if event.get("type") == "track" and event.get("event") in rename:
        event = copy.copy(event)
        event["event"] = rename[event["event"]]
    return event
