"""Vendor commands get what they need from the host through the small ``Host`` interface handed to
them: a host that is not the router (here one that records) drives them completely."""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from destinations.extole.cli import cli as extole_commands
from destinations.host import with_host


@dataclass
class Configured:
    name: str
    type: str
    enabled: bool = True
    settings: dict[str, Any] = field(default_factory=dict)


class RecordingHost:
    """Implements ``destinations.host.Host`` with lists, no Redis and no config file."""

    def __init__(self, *destinations: Configured) -> None:
        self.configured = list(destinations)
        self.enqueued: list[tuple[str, list[dict[str, Any]]]] = []
        self.followed: list[tuple[str, dict[str, int], int]] = []

    def destinations(self) -> list[Configured]:
        return self.configured

    def build(self, name: str) -> Any:
        raise AssertionError("the backfill queues events; it never builds a destination")

    def enqueue(self, name: str, events: list[dict[str, Any]]) -> int:
        self.enqueued.append((name, events))
        return len(events)

    def settled(self, name: str) -> dict[str, int]:
        return {"delivered": 5}

    def follow(self, name: str, baseline: dict[str, int], total: int) -> dict[str, int]:
        self.followed.append((name, baseline, total))
        return {"delivered": total}


def orders(tmp_path: Path) -> Path:
    path = tmp_path / "orders.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["Email", "Customer ID", "Order ID", "Total", "Created At"],
                                 ["ann@example.com", "c-1", "1001", "20", "2999-01-01T00:00:00Z"]])
    return path


def test_the_extole_backfill_queues_and_follows_through_the_host_it_is_handed(tmp_path):
    host = RecordingHost(Configured("hook", "webhook"), Configured("ext", "extole", settings={"api_key": "k"}))
    result = CliRunner().invoke(with_host(extole_commands, host), ["backfill", str(orders(tmp_path)), "--send", "--wait"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [(name, events)] = host.enqueued
    assert name == "ext" and [(e["type"], e["event"], e["userId"]) for e in events] == [("track", "conversion", "c-1")]
    assert host.followed == [("ext", {"delivered": 5}, 1)]


def test_the_client_id_comes_from_the_hosts_destination_settings(tmp_path):
    host = RecordingHost(Configured("ext", "extole", settings={"api_key": "k", "client_id": "acme"}))
    result = CliRunner().invoke(with_host(extole_commands, host),
                                ["backfill", str(orders(tmp_path)), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert [p.name.split("_")[0] for p in (tmp_path / "out").glob("*_conversion_*.csv")] == ["acme"]


def test_a_vendor_command_run_without_a_host_says_where_it_runs(tmp_path):
    result = CliRunner().invoke(extole_commands, ["backfill", str(orders(tmp_path)), "--send"])
    assert result.exit_code == 2
    assert "this command runs inside eventrouter (eventrouter <type> <command>)" in result.output
