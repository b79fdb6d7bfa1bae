"""What a vendor's own commands (``eventrouter extole backfill``, ``eventrouter yespo
import-events``) may ask of the host, and how the host hands it to them.

The host loads plugins; a plugin never imports the host. Commands that need the
running router (its config, its queues, the shared rate limit) get a :class:`Host`
from the click context: ``router/cli.py`` mounts each plugin's group with
:func:`with_host`, and a command takes it with :func:`pass_host`.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence, TypeVar

import click

from destinations.base import Destination


class ConfiguredDestination(Protocol):
    """One destination of the host's config, as far as a command needs to know it."""

    name: str
    type: str
    enabled: bool
    settings: Mapping[str, Any]


class Host(Protocol):
    """The host's side of a vendor command. Every method raises ``HostError`` when the host has
    no usable config (the message says why)."""

    def destinations(self) -> Sequence[ConfiguredDestination]:
        """The configured destinations (settings loaded and checked by the plugin's schema)."""

    def build(self, name: str) -> Destination:
        """The plugin instance of destination ``name``, its client drawing on the shared rate limit."""

    def enqueue(self, name: str, events: list[dict[str, Any]]) -> int:
        """Queue Segment-shaped events into destination ``name``'s buffer; workers deliver them.
        LookupError when the destination is disabled."""

    def settled(self, name: str) -> dict[str, int]:
        """What destination ``name`` has finished with so far, by outcome (delivered, rejected, ...)."""

    def follow(self, name: str, baseline: dict[str, int], total: int) -> dict[str, int]:
        """Show ``total`` events settling at ``name`` (counted from ``baseline``) until done or Ctrl-C."""


def destination_of_type(destinations: Iterable[Any], kind: str, name: str | None = None) -> Any:
    """The destination of plugin type ``kind`` a command works on: the one named, or the only one.

    Raises LookupError with the destinations of that type to choose from."""
    destinations = list(destinations)
    names = ", ".join(d.name for d in destinations if d.type == kind) or "none"
    if name is not None:
        for d in destinations:
            if d.name == name:
                if d.type != kind:
                    raise LookupError(f"destination {name!r} is of type {d.type}, not {kind} ({kind} destinations: {names})")
                return d
        raise LookupError(f"no {kind} destination named {name!r} ({kind} destinations: {names})")
    found = [d for d in destinations if d.type == kind]
    if len(found) != 1:
        raise LookupError(f"name the destination with --destination ({kind} destinations: {names})")
    return found[0]


class HostedGroup(click.Group):
    """A plugin's command group with the host as the context object of every command in it."""

    def __init__(self, group: click.Group, host: Host) -> None:
        super().__init__(group.name, commands=group.commands, help=group.help, short_help=group.short_help)
        self.host = host

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        extra["obj"] = self.host
        return super().make_context(info_name, args, parent=parent, **extra)


def with_host(group: click.Group, host: Host) -> click.Group:
    """``group`` as the host mounts it: its commands receive ``host`` through :func:`pass_host`."""
    return HostedGroup(group, host)


F = TypeVar("F", bound=Callable[..., Any])


def pass_host(f: F) -> F:
    """Decorate a command to receive the :class:`Host` as its first argument."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        host = click.get_current_context().obj
        if host is None:
            raise click.UsageError("this command runs inside eventrouter (eventrouter <type> <command>)")
        return f(host, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
