"""``eventrouter``: the command group, its commands (processes in cli_processes.py, setting up in
cli_setup.py, what Redis holds in cli_records.py) and each destination plugin's own commands
(``eventrouter extole backfill ...``), built-in or third-party."""
from __future__ import annotations

import logging
import os
from typing import Any

import click
import redis

from destinations import registry
from router.cli_loading import fail
from router.cli_processes import scheduler, serve, up, worker
from router.cli_records import dead_letters_cmd, regulations, replay_cmd, retrying, stats, trace_cmd
from router.cli_setup import check_config, destinations_cmd, new_destination, test_cmd
from router.config import config_path
from router.redis_server import RedisNotRunning


def hoist_config(args: list[str]) -> list[str]:
    """Move ``--config PATH`` / ``--config=PATH`` given after the command to the front, where the
    group reads it: ``eventrouter up --config x.yaml`` works like ``eventrouter --config x.yaml up``."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        if arg == "--config" and i + 1 < len(args):
            front += args[i : i + 2]
            i += 2
            continue
        if arg.startswith("--config="):
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


class Main(click.Group):
    """The ``eventrouter`` group: ``--config`` anywhere on the line; a missing embedded Redis or a
    Redis that does not answer is a message, not a traceback, for every command (the destinations'
    own ones too).

    A destination plugin's own commands (``registry.commands``) are mounted under its slug, handed
    the host, when that name is asked for: ``eventrouter up`` imports no plugin. A slug that is
    one of the group's own commands is not mounted (``eventrouter destinations`` says so)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *(slug for slug in registry.sources() if registry.commands_module(slug))})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        if name not in registry.sources():
            return None
        try:
            group = registry.commands(name)
        except registry.PluginLoadError as exc:
            return unusable(name, exc.cause)
        if group is None:
            return None
        from destinations.host import with_host
        from router.host import RouterHost

        return with_host(group, RouterHost())

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_config(list(args)))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RedisNotRunning as exc:
            fail(str(exc), 1)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            fail(f"cannot reach Redis: {exc} Is it running? ({redis_url_source()})", 1)


def redis_url_source() -> str:
    """Where the Redis URL that did not answer came from, so the message says what to fix."""
    if os.environ.get("REDIS_URL"):
        return "the REDIS_URL environment variable"
    return f"redis_url in {config_path()}; REDIS_URL overrides it"


def unusable(slug: str, cause: str) -> click.Command:
    """Stands in for a plugin's commands that do not load: ``--help`` lists it with the cause, running it
    fails with it, and every other command works."""

    def run() -> None:
        fail(f"eventrouter {slug}: the {slug} plugin's {cause}", 1)

    return click.Command(slug, callback=run, short_help=f"BROKEN: {cause}", add_help_option=False,
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})


@click.group(cls=Main)
@click.version_option(package_name="eventrouter", prog_name="eventrouter", message="%(prog)s %(version)s")
@click.option("--config", "config", envvar="EVENTROUTER_CONFIG", default=None,
              help="YAML config (default config/eventrouter.yaml); may also follow the command")
@click.option("-v", "--verbose", is_flag=True, help="debug logging")
def main(config: str | None, verbose: bool) -> None:
    """Self-hosted, Segment-compatible event router."""
    if config:
        os.environ["EVENTROUTER_CONFIG"] = config
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# The command modules define their commands without the group and never import this module:
# `python -m router.cli` runs this file as __main__, so a module importing `router.cli` would
# load it a second time and register its commands on that copy's group, not on the one that runs.
for command in (up, serve, worker, scheduler,
                check_config, destinations_cmd, new_destination, test_cmd,
                replay_cmd, dead_letters_cmd, retrying, stats, regulations, trace_cmd):
    main.add_command(command)


if __name__ == "__main__":
    main()
