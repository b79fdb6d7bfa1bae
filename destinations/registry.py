"""Which destination plugins exist, by the ``type:`` used in the config.

Third-party plugins register through the ``eventrouter.destinations`` entry
point group (``slug = package.module:Class``)."""
from __future__ import annotations

import importlib
from functools import lru_cache
from importlib.metadata import entry_points

from destinations.base import Destination

BUILTIN: dict[str, str] = {
    "webhook": "destinations.webhook:WebhookDestination",
    "extole": "destinations.extole:ExtoleDestination",
    "custobar": "destinations.custobar:CustobarDestination",
    "yespo": "destinations.yespo:YespoDestination",
    "stickystreet": "destinations.stickystreet:StickyStreetDestination",
    "http": "destinations.http_api:HttpDestination",
}


def _targets() -> dict[str, str]:
    targets = dict(BUILTIN)
    for ep in entry_points(group="eventrouter.destinations"):
        targets.setdefault(ep.name, ep.value)
    return targets


def available() -> list[str]:
    """The slugs whose package is installed."""
    return sorted(slug for slug in _targets() if _importable(slug))


def _importable(slug: str) -> bool:
    try:
        load(slug)
    except (ImportError, KeyError, AttributeError, TypeError):
        return False
    return True


@lru_cache(maxsize=None)
def load(slug: str) -> type[Destination]:
    """The plugin class for a ``type:``; KeyError when there is none."""
    target = _targets()[slug]
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Destination)):
        raise TypeError(f"{target} is not a Destination")
    return cls
