"""``eventrouter extole ...``: the existing-customer upload. The logic is in backfill.py and sftp.py;
what it needs of the router (config, queue, progress) comes through the ``Host`` it is handed."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import click

from destinations.extole import backfill as bf
from destinations.errors import HostError
from destinations.extole import sftp as extole_sftp
from destinations.host import Host, pass_host

cli = click.Group("extole", help="Extole tools.")


@cli.command("backfill")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--months", default=12, show_default=True, help="Keep actions of the last N months.")
@click.option("--event", default="conversion", show_default=True, help="Extole event name.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Write Extole's event file here.")
@click.option("--send", is_flag=True, help="Queue the events through the Extole destination instead.")
@click.option("--wait", is_flag=True, help="With --send: follow delivery (at the rate limit) with a progress bar.")
@click.option("--client-id", help="Extole client id for the file name (default: the destination's client_id setting).")
@click.option("--destination", "destination_name", help="Which Extole destination of the config (default: the only one).")
@click.option("--map", "mapping", multiple=True, metavar="FIELD=COLUMN", help="Input column for an Extole field.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), help="Input format (default: by file suffix).")
@click.option("--date-format", help="strptime format of the date column when it is not ISO 8601, e.g. %d/%m/%Y.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, path_type=Path), help="Where rejected rows go.")
@click.option("--sftp", is_flag=True, help="Upload the event file to Extole's SFTP (needs --out).")
@click.option("--sftp-host", default=extole_sftp.DEFAULT_SFTP_HOST, show_default=True)
@click.option("--sftp-port", default=22, show_default=True)
@click.option("--sftp-user", help="Your Extole SFTP user (client name).")
@click.option("--sftp-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Private key file.")
@click.option("--sftp-dir", default=extole_sftp.DEFAULT_SFTP_DIR, show_default=True)
@click.option("--sftp-key-passphrase", envvar="EXTOLE_SFTP_KEY_PASSPHRASE", help="Passphrase of the key, if it has one.")
@click.option("--sftp-known-hosts", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="known_hosts file with Extole's host key (default: ~/.ssh/known_hosts).")
@pass_host
def backfill(host: Host, file: Path, months: int, event: str, out_dir: Path | None, send: bool, wait: bool, client_id: str | None,
             destination_name: str | None, mapping: tuple[str, ...], fmt: str | None, date_format: str | None,
             rejects_path: Path | None, sftp: bool, sftp_host: str, sftp_port: int, sftp_user: str | None,
             sftp_key: Path | None, sftp_dir: str, sftp_key_passphrase: str | None, sftp_known_hosts: Path | None) -> None:
    """Load existing customers (the last N months, each customer's most recent action) into Extole."""
    if bool(out_dir) == send:
        raise click.UsageError("give either --out DIR or --send")
    if sftp and not out_dir:
        raise click.UsageError("--sftp uploads the event file: it needs --out")
    if sftp and not (sftp_user and sftp_key):
        raise click.UsageError("--sftp needs --sftp-user and --sftp-key")
    try:
        p = bf.plan(file, event=event, months=months, columns=bf.parse_mapping(mapping), fmt=fmt, date_format=date_format)
        if out_dir:
            path = bf.write_event_file(p, out_dir, client_id or _configured_client_id(host, destination_name))
            click.echo(f"event file: {path}")
            rejects = bf.write_rejects(p, rejects_path or path.with_name(path.stem + ".rejects.csv"))
            if sftp:
                remote = extole_sftp.upload_sftp(path, username=sftp_user, key_file=sftp_key, host=sftp_host, port=sftp_port,
                                        remote_dir=sftp_dir, known_hosts=sftp_known_hosts, passphrase=sftp_key_passphrase)
                click.echo(f"uploaded: {sftp_user}@{sftp_host}:{remote}")
            verb = "written"
        else:
            rejects = bf.write_rejects(p, rejects_path or file.with_name(file.stem + ".extole-rejects.csv"))
            _send(host, p, destination_name, wait)
            verb = "queued"
    except bf.BackfillError as exc:
        raise click.ClickException(str(exc)) from None
    if rejects:
        click.echo(f"rejected rows: {rejects}")
    for line in p.summary.lines(verb):
        click.echo(line)


def _configured_client_id(host: Host, destination_name: str | None) -> str:
    try:
        destinations = host.destinations()
    except HostError as exc:
        raise bf.BackfillError(f"give --client-id (no usable config to read it from: {exc})") from None
    settings: Mapping[str, Any] = bf.extole_destination(destinations, destination_name).settings
    if not settings.get("client_id"):
        raise bf.BackfillError("give --client-id or set client_id in the Extole destination's settings")
    return settings["client_id"]


def _send(host: Host, p: bf.Plan, destination_name: str | None, wait: bool) -> None:
    from tqdm import tqdm

    try:
        name = bf.extole_destination(host.destinations(), destination_name).name
    except HostError as exc:
        raise bf.BackfillError(str(exc)) from None
    before = host.settled(name)
    with tqdm(total=len(p.actions), unit="event", desc="queueing to Extole", disable=None) as bar:
        try:
            bf.send(p, host, name, progress=bar.update)
        except LookupError as exc:
            raise bf.BackfillError(str(exc.args[0])) from None
    if wait:
        host.follow(name, before, len(p.actions))
