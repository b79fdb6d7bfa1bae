"""The third-party example plugin (examples/eventrouter-slack) as a user runs it: its own test suite
(the kit's contract suite), and, once installed with pip, end to end through `eventrouter up`."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from destinations import registry
from destinations.kit.fakes import FakeServer, Reply, Request
from tests.e2e.procs import free_port, small_up, wait_http, write_config

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "eventrouter-slack"
HOOK = "/services/T000/B000/e2e-slack-secret"


def test_the_example_plugin_passes_its_own_tests_with_the_kits_contract_suite():
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE)], cwd=EXAMPLE,
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(EXAMPLE)])),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "15 passed" in result.stdout


def fake_slack(req: Request) -> Reply:
    if req.path != HOOK:
        return Reply(404, "no_service")
    if req.json()["text"].startswith("*Archived*"):
        return Reply(410, "channel_is_archived")
    return Reply(200, "ok")


def test_the_installed_example_delivers_through_eventrouter_up(tmp_path):
    if "slack" not in registry.available():
        pytest.skip("examples/eventrouter-slack is not installed: pip install -e examples/eventrouter-slack "
                    "(.ci/run does)")
    listed = subprocess.run([sys.executable, "-m", "router.cli", "destinations"], capture_output=True, text=True,
                            timeout=60)
    slack_row = next(line.split() for line in listed.stdout.splitlines() if line.startswith("slack "))
    assert slack_row == ["slack", "eventrouter-slack", "0.1.0", "identify,track", "20", "(max", "20)", "1/second", "no"]
    with FakeServer(fake_slack) as slack:
        config = write_config(tmp_path, [{"name": "team", "type": "slack", "rate_limit": "50/second", "settings": {
            "webhook_url": slack.base_url + HOOK, "events": ["Order Completed", "Archived"]}}])
        port = free_port()
        up = small_up(config, port)
        try:
            assert wait_http(f"http://127.0.0.1:{port}/healthz"), up.output()
            base = {"userId": "user-7", "timestamp": "2026-11-23T10:00:00.000Z"}
            batch = [
                {**base, "type": "track", "event": "Order Completed", "messageId": "m1",
                 "properties": {"order_id": "o-9", "revenue": 42, "currency": "EUR"}},
                {**base, "type": "track", "event": "Page Scrolled", "messageId": "m2"},
                {**base, "type": "track", "event": "Archived", "messageId": "m3"},
            ]
            answer = requests.post(f"http://127.0.0.1:{port}/v1/batch", json={"batch": batch},
                                   auth=("e2e-write-key", ""), timeout=10)
            assert answer.status_code == 200, answer.text
            got = slack.wait_for(2, timeout=30)
            bodies = sorted((r.json() for r in got), key=lambda b: b["text"])
            assert bodies == [
                {"text": "*Archived* by user-7",
                 "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Archived* by user-7"}}]},
                {"text": "*Order Completed* by user-7",
                 "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Order Completed* by user-7"},
                             "fields": [{"type": "mrkdwn", "text": "*revenue*\n42"},
                                        {"type": "mrkdwn", "text": "*currency*\nEUR"},
                                        {"type": "mrkdwn", "text": "*order*\no-9"}]}]},
            ]
            dead = dead_letters(config)
            assert [d["reason"] for d in dead] == ["Slack answered 410: channel_is_archived"]
            assert "e2e-slack-secret" not in str(dead)
        finally:
            up.stop()
        assert len(slack.requests) == 2  # the skipped event never reached Slack


def dead_letters(config: Path) -> list[dict]:
    """The destination's dead letters as `eventrouter dead-letters --json` shows them, once there is one."""
    import json
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = subprocess.run([sys.executable, "-m", "router.cli", "--config", str(config), "dead-letters", "team",
                              "--json"], capture_output=True, text=True, timeout=60, env=dict(os.environ))
        found = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError("no dead letter within 30 s")


def test_the_installed_examples_own_command_lists_its_destinations_without_posting(tmp_path):
    if "slack" not in registry.available():
        pytest.skip("examples/eventrouter-slack is not installed: pip install -e examples/eventrouter-slack "
                    "(.ci/run does)")
    with FakeServer(fake_slack) as slack:
        config = write_config(tmp_path, [
            {"name": "team", "type": "slack", "settings": {"webhook_url": slack.base_url + HOOK,
                                                           "events": ["Order Completed"]}},
            {"name": "hook", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/"}},
            {"name": "all", "type": "slack", "enabled": False, "settings": {"webhook_url": slack.base_url + HOOK}}])
        # this tree's example first: an editable install may point at another checkout
        result = subprocess.run([sys.executable, "-m", "router.cli", "slack", "check", "--config", str(config)],
                                env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(EXAMPLE)])),
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("team (enabled): webhook on 127.0.0.1, track events: Order Completed\n"
                             "all (disabled): webhook on 127.0.0.1, track events: every track\n")
    assert "e2e-slack-secret" not in result.stdout and slack.requests == []
