"""Starting real eventrouter processes for end-to-end tests."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import requests
import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp: Path, destinations: list[dict[str, Any]], **extra: Any) -> Path:
    cfg = {
        "redis_url": "embedded",
        "data_dir": str(tmp / "data"),
        "namespace": f"e{uuid.uuid4().hex[:10]}",
        "admin_token": "admin-secret-token",
        "sources": [{"name": "app", "write_keys": ["e2e-write-key"]}],
        "delivery": {"retry_base": "200ms", "retry_max": "1s", "lease": "2s", "tick": "200ms"},
        "destinations": destinations,
        **extra,
    }
    path = tmp / "eventrouter.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


class Proc:
    """An eventrouter CLI process; stopped (and reaped) by the test."""

    def __init__(self, config: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.log = config.parent / f"{args[0]}-{uuid.uuid4().hex[:6]}.log"
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "router.cli", "--config", str(config), *args],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
            cwd=Path(__file__).resolve().parents[2], start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL, no chance to clean up: what a crash or the OOM killer does."""
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 20) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        return self.popen.returncode


def small_up(config: Path, port: int, *args: str, env: dict[str, str] | None = None) -> Proc:
    """``eventrouter up`` with one delivery worker and one web process (``args``: more options)."""
    return Proc(config, "up", *args, "--port", str(port), "--workers", "1", "--web-workers", "1", env=env)


def wait_http(url: str, timeout: float = 30) -> bool:
    """True once ``url`` answers below 500 within ``timeout``; a slow first answer is retried, not fatal."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return True
        except requests.RequestException:
            pass  # not listening yet, or still booting
        time.sleep(0.1)
    return False
