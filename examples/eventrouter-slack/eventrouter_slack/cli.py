"""`eventrouter slack check`: the plugin's own commands. eventrouter finds the click group ``cli``
in this module (``cli`` next to the package the entry point names) and hands each command the host."""
from __future__ import annotations

from urllib.parse import urlsplit

import click

from destinations.kit import Host, HostError, pass_host

cli = click.Group("slack", help="Slack tools.")


@cli.command("check")
@pass_host
def check(host: Host) -> None:
    """Show the config's slack destinations and what they post (posts nothing; the URL stays secret)."""
    try:
        found = [d for d in host.destinations() if d.type == "slack"]
    except HostError as exc:
        raise click.ClickException(str(exc)) from None
    if not found:
        click.echo("no slack destination in the config")
    for d in found:
        events = ", ".join(d.settings.get("events") or []) or "every track"
        state = "enabled" if d.enabled else "disabled"
        click.echo(f"{d.name} ({state}): webhook on {urlsplit(d.settings['webhook_url']).hostname}, "
                   f"track events: {events}")
