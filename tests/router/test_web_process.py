"""The web process's gunicorn settings (router/gunicorn_conf.py), as ``gunicorn_command`` passes them."""
from __future__ import annotations

import subprocess
import sys

from router.cli_processes import gunicorn_command


def test_the_web_command_loads_the_gunicorn_settings() -> None:
    cmd = gunicorn_command("127.0.0.1", 8088, 2)
    assert cmd[cmd.index("-c") + 1] == "python:router.gunicorn_conf"
    checked = subprocess.run([*cmd[:-1], "--check-config", "bench.bare:app"], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stderr


def test_a_worker_freezes_what_it_loaded_and_collects_less_often() -> None:
    code = ("import gc; from router import gunicorn_conf as c; c.post_worker_init(None); "
            "print(gc.get_threshold()[0], gc.get_freeze_count() > 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.split() == ["7000", "True"]
