"""Which destination plugins exist, by the ``type:`` used in the config.

Third-party plugins register through the ``eventrouter.destinations`` entry point
group (``slug = package.module:Class``). A plugin that fails to import, or whose
settings schema is broken, is kept aside with its cause (:func:`problems`): it does
not take the others down, and a config that uses it fails naming the cause.

A plugin's own commands (``eventrouter <slug> <command>``) are the click group ``cli`` of
the ``cli`` module in the package the entry point names (:func:`commands`), as for the
built-ins (``destinations.extole`` -> ``destinations.extole.cli``)."""
from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import traceback
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, entry_points, version

import click

from destinations.base import EVENT_TYPES, BaseSettings, Destination, parse_rate
from destinations.errors import FOREIGN_FAULTS

BUILTIN: dict[str, str] = {
    "webhook": "destinations.webhook:WebhookDestination",
    "extole": "destinations.extole:ExtoleDestination",
    "custobar": "destinations.custobar:CustobarDestination",
    "yespo": "destinations.yespo:YespoDestination",
    "stickystreet": "destinations.stickystreet:StickyStreetDestination",
    "http": "destinations.http_api:HttpDestination",
}
GROUP = "eventrouter.destinations"


class PluginLoadError(Exception):
    """An installed plugin that cannot be used; ``cause`` says why (exception and where)."""

    def __init__(self, slug: str, cause: str) -> None:
        super().__init__(f"destination plugin {slug!r} could not be loaded: {cause}")
        self.slug = slug
        self.cause = cause


@dataclass(frozen=True)
class Source:
    """Where a plugin comes from: its ``module:Class`` and the distribution that installed it."""

    target: str
    package: str
    version: str


def _own_version() -> str:
    try:
        return version("eventrouter")
    except PackageNotFoundError:
        return "unknown"


@lru_cache(maxsize=1)
def sources() -> dict[str, Source]:
    """Every registered plugin, loadable or not; a built-in type cannot be taken over. Read once per
    process (scanning the installed distributions is not free; a new install needs a restart anyway)."""
    found = {slug: Source(target, "eventrouter (built-in)", _own_version()) for slug, target in BUILTIN.items()}
    for ep in entry_points(group=GROUP):
        dist = ep.dist
        found.setdefault(ep.name, Source(ep.value, dist.name if dist else "?", dist.version if dist else "?"))
    return found


def ignored() -> list[tuple[str, Source, str]]:
    """The registered plugins that are not used because another has their ``type:`` (a built-in,
    or a plugin found first): slug, where it comes from, and a sentence saying so. Without it an
    installed plugin would just not be there, and a config using its type would get the other one."""
    used = sources()
    found = []
    for ep in entry_points(group=GROUP):
        dist = ep.dist
        src = Source(ep.value, dist.name if dist else "?", dist.version if dist else "?")
        winner = used.get(ep.name)
        if winner is None or winner == src:
            continue
        why = (f"{ep.name} is a built-in type (give the entry point another name)" if ep.name in BUILTIN
               else f"{winner.package} {winner.version} registers {ep.name} too, and is the one used")
        found.append((ep.name, src, f"{src.package} {src.version} registers {ep.name} = {ep.value}, not used: {why}"))
    return found


def _targets() -> dict[str, str]:
    return {slug: src.target for slug, src in sources().items()}


def _cause(exc: BaseException) -> str:
    """``ModuleNotFoundError: No module named 'x' (at plugin/client.py:3)``: the error and the plugin's line."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = next((f for f in reversed(frames) if "importlib" not in f.filename), None)
    at = f" (at {where.filename}:{where.lineno})" if where else ""
    return f"{type(exc).__name__}: {exc}{at}"


@lru_cache(maxsize=None)
def _load(slug: str, target: str) -> type[Destination] | PluginLoadError:
    module_name, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except FOREIGN_FAULTS as exc:  # whatever a third-party import raises (or exits with), it must not stop the host
        return PluginLoadError(slug, _cause(exc))
    if not (isinstance(cls, type) and issubclass(cls, Destination)):
        return PluginLoadError(slug, f"{target} is not a Destination subclass")
    if problem := _declaration_problem(cls):
        return PluginLoadError(slug, problem)
    schema = getattr(cls, "settings_schema", None)
    if not (isinstance(schema, type) and issubclass(schema, BaseSettings)):
        return PluginLoadError(slug, f"settings schema: {schema!r} is not a BaseSettings subclass")
    try:
        schema()
    except FOREIGN_FAULTS as exc:
        return PluginLoadError(slug, "settings schema: " + _cause(exc))
    return cls


def _declaration_problem(cls: type[Destination]) -> str | None:
    """What is wrong with what the class declares as data, or None. Every destination, the CLI and the
    router read these attributes: one missing or malformed must be this plugin's error, not theirs."""
    for attr in ("slug", "display_name"):
        if not isinstance(getattr(cls, attr, None), str) or not getattr(cls, attr):
            return f"{attr}: not declared (a non-empty string)"
    aliases = cls.aliases
    if not isinstance(aliases, (tuple, list, set, frozenset)) or not all(isinstance(a, str) for a in aliases):
        # a bare string would be matched against the integrations object letter by letter
        return f"aliases: {aliases!r} is a {type(aliases).__name__}, not a tuple of names (write ({aliases!r},))"
    handles = getattr(cls, "handles", None)
    if not isinstance(handles, (set, frozenset)) or not handles:
        return "handles: not declared (the event types it delivers, e.g. frozenset({'identify', 'track'}))"
    if unknown := sorted(str(h) for h in handles if h not in EVENT_TYPES):
        return f"handles: {unknown[0]!r} is not an event type (event types: {', '.join(sorted(EVENT_TYPES))})"
    default, most = cls.default_batch_size, cls.max_batch_size
    if not (isinstance(default, int) and isinstance(most, int) and 1 <= default <= most):
        return f"batch sizes: default_batch_size {default!r} is not between 1 and max_batch_size {most!r}"
    if not isinstance(cls.rate_limits, dict):
        return f"rate_limits: {type(cls.rate_limits).__name__}, not a mapping of bucket name to rate limit"
    rates = {"default_rate_limit": cls.default_rate_limit,
             **{f"rate_limits[{k!r}]": v for k, v in cls.rate_limits.items()}}
    for attr, rate in rates.items():
        if rate is not None:
            try:
                parse_rate(rate)
            except ValueError as exc:
                return f"{attr}: {exc}"
    return None


def load(slug: str) -> type[Destination]:
    """The plugin class for a ``type:``; KeyError when there is none, PluginLoadError when it is broken."""
    result = _load(slug, _targets()[slug])
    if isinstance(result, PluginLoadError):
        raise result
    return result


def available() -> list[str]:
    """The slugs whose plugin loads."""
    return sorted(slug for slug, target in _targets().items() if not isinstance(_load(slug, target), PluginLoadError))


def problems() -> dict[str, str]:
    """The registered plugins that do not load, with the cause."""
    return {slug: result.cause for slug, target in sorted(_targets().items())
            if isinstance(result := _load(slug, target), PluginLoadError)}


def commands_module(slug: str) -> str | None:
    """The module of plugin ``slug``'s own commands (``eventrouter_acme:AcmeDestination`` ->
    ``eventrouter_acme.cli``), None when it has none. Found on disk without importing the plugin,
    so that listing the commands does not load every plugin."""
    module = _targets()[slug].partition(":")[0]
    try:
        spec = importlib.util.find_spec(module)  # imports the packages above ``module``, not ``module``
    except FOREIGN_FAULTS:  # a parent that does not import: problems() has the plugin's cause
        return None
    if spec is None or spec.submodule_search_locations is None:  # a plain module has no ``cli`` inside
        return None
    name = f"{module}.cli"
    return name if importlib.machinery.PathFinder.find_spec(name, list(spec.submodule_search_locations)) else None


@lru_cache(maxsize=None)
def _load_commands(slug: str, module_name: str) -> click.Group | PluginLoadError:
    try:
        module = importlib.import_module(module_name)
    except FOREIGN_FAULTS as exc:  # as for the plugin itself: a broken commands module must not stop the CLI
        return PluginLoadError(slug, "commands: " + _cause(exc))
    group = getattr(module, "cli", None)
    if not isinstance(group, click.Group):
        return PluginLoadError(slug, f"commands: {module_name}.cli is {type(group).__name__}, not a click group "
                                     f"(in {module.__file__})")
    return group


def commands(slug: str) -> click.Group | None:
    """Plugin ``slug``'s own command group, None when it has none; PluginLoadError (``cause`` starting
    ``commands:``) when its commands module does not import or its ``cli`` is not a click group."""
    module_name = commands_module(slug)
    if module_name is None:
        return None
    result = _load_commands(slug, module_name)
    if isinstance(result, PluginLoadError):
        raise result
    return result
