"""The commands for setting a deployment up: ``check-config``, the installed destination plugins
(``destinations``), a new one (``new-destination``) and what a destination would do with an event
(``test``)."""
from __future__ import annotations

import json
import sys
from typing import Any

import click

from destinations import registry
from router.cli_loading import fail, known_destination, load_checked_config, load_runtime
from router.config import config_path, config_warnings


@click.command("check-config")
def check_config() -> None:
    """Validate the configuration and exit (non-zero on errors; warnings keep exit code 0)."""
    path = config_path()
    cfg = load_checked_config()
    click.echo(f"{path}: ok — {len(cfg.sources)} sources, {len(cfg.destinations)} destinations")
    for d in cfg.destinations:
        rate = f"{d.rate_limit.count:g}/{int(d.rate_limit.period)}s" if d.rate_limit else "unlimited"
        state = "enabled" if d.enabled else "disabled"
        click.echo(f"  {d.name} ({d.type}, {state}): batch {d.batch_size}, rate {rate}, events {', '.join(sorted(d.subscribe))}")
    for warning in config_warnings(cfg):
        click.echo(f"warning: {warning}")
    for slug, cause in registry.problems().items():
        click.echo(f"warning: destination plugin {slug!r} could not be loaded (not used here): {cause}")
    for _, _, why in registry.ignored():
        click.echo(f"warning: {why}")


def table(rows: list[list[str]]) -> None:
    """Rows as left-aligned columns, the first row the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


@click.group("destinations", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="JSON lines (for scripts)")
@click.pass_context
def destinations_cmd(ctx: click.Context, as_json: bool) -> None:
    """The installed destination plugins (built-in and third-party), what they handle and their limits."""
    from router.plugins import plugin_rows

    if ctx.invoked_subcommand:
        return
    rows = plugin_rows(taken=ctx.find_root().command.commands)  # the group's own commands, not the plugins'
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    out = [["TYPE", "PACKAGE", "VERSION", "EVENTS", "BATCH", "RATE LIMIT", "DELETE"]]
    for r in rows:
        if "ignored" in r:
            out.append([r["type"], r["package"], r["version"], "NOT USED (see below)", "", "", ""])
        elif "error" in r:
            out.append([r["type"], r["package"], r["version"], "BROKEN (see below)", "", "", ""])
        else:
            out.append([r["type"], r["package"], r["version"], ",".join(r["events"]),
                        f"{r['batch_size']} (max {r['max_batch_size']})", r["rate_limit"] or "none",
                        "yes" if r["delete"] else "no"])
    table(out)
    for r in rows:
        for problem in (r.get("error"), r.get("commands_error"), r.get("ignored")):
            if problem:
                click.echo(f"{r['type']}: {problem}")


@destinations_cmd.command("show")
@click.argument("type_", metavar="TYPE")
def destinations_show(type_: str) -> None:
    """The settings of the plugin TYPE: type, default, secret or not, description."""
    from router.plugins import setting_rows

    try:
        rows = setting_rows(type_)
    except KeyError:
        fail(f"no destination plugin {type_!r} (installed: {', '.join(registry.available())})", 2)
    except registry.PluginLoadError as exc:
        fail(str(exc), 1)
    out = [["SETTING", "TYPE", "DEFAULT", "SECRET", "DESCRIPTION"]]
    out += [[r["name"], r["type"], r["default"], "secret" if r["secret"] else "", r["description"]] for r in rows]
    table(out)


@click.command("new-destination")
@click.argument("name")
@click.option("--dir", "directory", default=".", show_default=True, type=click.Path(file_okay=False),
              help="where the package's folder is made")
def new_destination(name: str, directory: str) -> None:
    """Write a new destination plugin package NAME: packaging with the entry point, settings, a mapper
    with a field table, a client, and tests that run the kit's contract suite. It passes its tests as written."""
    from destinations.kit.scaffold import ScaffoldError, write_package

    try:
        made = write_package(name, directory)
    except ScaffoldError as exc:
        fail(str(exc), 2)
    click.echo(f"wrote {made.root} (destination type `{made.slug}`, module {made.module})")
    click.echo(f"  pip install -e '{made.root}[test]'   # registers it through the eventrouter.destinations entry point")
    click.echo(f"  pytest {made.root}")


@click.command("test")
@click.argument("destination")
@click.argument("event_file", type=click.File("r", encoding="utf-8"))
@click.option("--send", is_flag=True, help="send it once and show the vendor's answer (default: a dry run)")
def test_cmd(destination: str, event_file: Any, send: bool) -> None:
    """Show what DESTINATION would do with the Segment event in EVENT_FILE (- for stdin): validation,
    routing and why, the exact vendor request(s), secrets redacted. Exit 0 when it would be delivered."""
    from router.tester import run_test, would_deliver

    cfg = load_checked_config()
    known_destination(cfg, destination)
    rt = load_runtime(cfg)
    try:
        event = json.load(event_file)
    except ValueError as exc:
        fail(f"{event_file.name} is not valid JSON: {exc}", 2)
    report = run_test(rt, destination, event, send=send)
    click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    sys.exit(0 if would_deliver(report) else 1)
