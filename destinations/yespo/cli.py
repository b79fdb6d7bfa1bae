"""`eventrouter yespo ...`: thin click commands over past_events; the destination comes from the
``Host`` the router hands them."""
from __future__ import annotations

import click

from destinations.errors import HostError
from destinations.host import Host, destination_of_type, pass_host
from destinations.yespo.past_events import default_report_path, import_events

cli = click.Group("yespo", help="Yespo (eSputnik) tools.")


@cli.command("import-events")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--destination", "-d", "name", help="The yespo destination in the config (default: the only one).")
@click.option("--report", type=click.Path(dir_okay=False), help="Per-line CSV report (default: FILE.report.csv).")
@pass_host
def import_events_command(host: Host, file: str, name: str | None, report: str | None) -> None:
    """Send FILE (JSON lines of Segment track events) to Yespo's past_events.

    Exits 1 unless Yespo accepted every line; the report says why for each.
    """
    try:
        destinations = host.destinations()
    except HostError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        name = destination_of_type(destinations, "yespo", name).name
    except LookupError as exc:
        raise click.UsageError(str(exc.args[0])) from None
    summary = import_events(host.build(name), file, report or default_report_path(file))
    click.echo(summary.text())
    if not summary.all_accepted:
        raise SystemExit(1)
