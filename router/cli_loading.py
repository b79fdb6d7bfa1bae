"""What every ``eventrouter`` command starts from: the checked config and the runtime on its
Redis, or an exit with the reason. Apart from router/cli.py so that the command modules can use
it without importing the group (``python -m router.cli`` would load cli.py a second time)."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from router import logs
from router.config import Config, config_path, load_config
from router.demo import DEMO_DESTINATION
from router.errors import ConfigError

if TYPE_CHECKING:
    from router.runtime import Runtime


def fail(message: str, code: int = 1) -> None:
    click.echo(message, err=True)
    sys.exit(code)


def known_destination(cfg: Config, name: str) -> None:
    """Exit with the configured names when ``name`` is not one of them."""
    try:
        cfg.destination(name)
    except KeyError as exc:
        if name == DEMO_DESTINATION:  # the README's first run makes it; the other commands' configs don't have it
            fail(f"{exc.args[0]}; {name} is added by `eventrouter up --demo` to its own processes only: "
                 "see its deliveries with eventrouter trace or on the dashboard", 2)
        fail(str(exc.args[0]), 2)


def config_failure(path: str, exc: ConfigError) -> None:
    fail(f"configuration error in {path}:\n" + "\n".join(f"  {line}" for line in str(exc).splitlines()), 2)


def load_checked_config() -> Config:
    """The config of ``--config`` / ``EVENTROUTER_CONFIG``, or exit 2 with every error in it."""
    path = config_path()
    try:
        return load_config(path)
    except ConfigError as exc:
        config_failure(path, exc)
        raise  # not reached: fail() exits


def load_runtime(cfg: Config | None = None) -> "Runtime":
    """The runtime on the deployment's Redis; exits with a clear message when there is none to use."""
    from router.runtime import Runtime

    rt = Runtime(cfg or load_checked_config())
    logs.configure(rt.config.log_format)  # log_format: text|json
    return rt
