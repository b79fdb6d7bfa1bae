"""`eventrouter yespo ...`: thin click commands over past_events."""
from __future__ import annotations

import click

from destinations.yespo.past_events import default_report_path, import_events
from router.config import destination_of_type
from router.errors import ConfigError

cli = click.Group("yespo", help="Yespo (eSputnik) tools.")


@cli.command("import-events")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--destination", "-d", "name", help="The yespo destination in the config (default: the only one).")
@click.option("--report", type=click.Path(dir_okay=False), help="Per-line CSV report (default: FILE.report.csv).")
def import_events_command(file: str, name: str | None, report: str | None) -> None:
    """Send FILE (JSON lines of Segment track events) to Yespo's past_events.

    Exits 1 unless Yespo accepted every line; the report says why for each.
    """
    from router.runtime import Runtime  # the core; imported late so `--help` stays cheap

    try:
        runtime = Runtime.load()
    except ConfigError as exc:
        raise click.ClickException(f"configuration error:\n{exc}") from None
    try:
        name = destination_of_type(runtime.config.destinations, "yespo", name).name
    except LookupError as exc:
        raise click.UsageError(str(exc.args[0])) from None
    summary = import_events(runtime.build(name), file, report or default_report_path(file))
    click.echo(summary.text())
    if not summary.all_accepted:
        raise SystemExit(1)
