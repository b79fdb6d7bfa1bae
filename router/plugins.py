"""What `eventrouter destinations` shows: the installed plugins and their settings, as rows."""
from __future__ import annotations

from typing import Any, Collection

from marshmallow import fields, missing

from destinations import registry


def plugin_rows(taken: Collection[str] = ()) -> list[dict[str, Any]]:
    """One row per registered plugin; a broken one says why instead of what it handles, and one whose
    own commands are not mounted (they do not load, or ``taken``, the CLI's command names, has its slug) why not."""
    rows = []
    broken = registry.problems()
    for slug, src in sorted(registry.sources().items()):
        row: dict[str, Any] = {"type": slug, "package": src.package, "version": src.version}
        if slug in broken:
            row["error"] = broken[slug]
        else:
            plugin = registry.load(slug)
            row.update(events=sorted(plugin.handles), batch_size=plugin.default_batch_size,
                       max_batch_size=plugin.max_batch_size, rate_limit=plugin.default_rate_limit,
                       delete=plugin.supports_delete(), name=plugin.display_name)
            if problem := _commands_problem(slug, taken):
                row["commands_error"] = problem
        rows.append(row)
    for slug, src, why in registry.ignored():
        rows.append({"type": slug, "package": src.package, "version": src.version, "ignored": why})
    return rows


def _commands_problem(slug: str, taken: Collection[str]) -> str | None:
    try:
        group = registry.commands(slug)
    except registry.PluginLoadError as exc:
        return exc.cause
    if group is not None and slug in taken:
        return f"commands: not mounted, `eventrouter {slug}` is one of eventrouter's own commands"
    return None


def _default(field: fields.Field) -> str:
    value = field.load_default
    if value is missing:
        return "(required)" if field.required else "-"
    if callable(value):
        value = value()
    return "-" if value is None else repr(value) if isinstance(value, str) else str(value)


def _kind(field: fields.Field) -> str:
    name = type(field).__name__.lower()
    if isinstance(field, fields.List):
        return f"list of {_kind(field.inner)}"
    return {"str": "string", "url": "url", "float": "number", "integer": "integer", "boolean": "boolean",
            "dict": "mapping"}.get(name, name)


def setting_rows(slug: str) -> list[dict[str, Any]]:
    """The plugin's settings: name, type, default, secret or not, description."""
    schema = registry.load(slug).settings_schema()
    return [{"name": f.data_key or name, "type": _kind(f), "default": _default(f),
             "secret": bool(f.metadata.get("secret")), "description": f.metadata.get("description", "")}
            for name, f in sorted(schema.fields.items()) if not f.dump_only]
