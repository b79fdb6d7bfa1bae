"""``eventrouter extole backfill`` end to end: files, the real queue (embedded Redis), and a local SFTP server."""
from __future__ import annotations

import csv
import json
import re
import uuid
from pathlib import Path
from typing import Any, Iterator

import paramiko
import pytest
import redis
from click.testing import CliRunner

from destinations.extole import ExtoleDestination
from destinations.extole import backfill as bf
from destinations.extole.cli import cli as commands
from destinations.extole.sftp import upload_sftp
from destinations.host import with_host
from router.host import RouterHost
from tests.destinations.extole.fake_sftp import FakeSftp
from tests.e2e.procs import Proc, write_config
from tests.fakes.http import FakeServer, Reply

HEADER = "event_name,required_labels,email,partner_user_id,first_name,last_name,event_time,partner_conversion_id,cart_value"

def mounted() -> Any:
    """The commands as `eventrouter` mounts them, with a host that reads this test's config."""
    return with_host(commands, RouterHost())


@pytest.fixture
def orders(tmp_path: Path) -> Path:
    path = tmp_path / "orders.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Email", "Customer ID", "Order ID", "Total", "Created At"])
        w.writerow(["ann@example.com", "c-1", "1001", "20", "2999-01-01T00:00:00Z"])
        w.writerow(["ann@example.com", "c-1", "1000", "10", "2999-01-01T00:00:00-01:00"])
        w.writerow(["bo@example.com", "", "2001", "x", "2999-01-01"])
        w.writerow(["old@example.com", "", "1", "1", "2000-01-01"])
    return path


def run(*args: Any, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(mounted(), ["backfill", *map(str, args)], env=env, catch_exceptions=False)


def test_out_writes_the_event_file_the_rejects_file_and_prints_every_count(orders, tmp_path):
    result = run(orders, "--out", tmp_path / "out", "--client-id", "acme")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(names) == 2 and re.fullmatch(r"acme_conversion_\d{14}\.csv", names[0])
    event_file = tmp_path / "out" / names[0]
    lines = event_file.read_text(encoding="utf-8").splitlines()
    assert lines[0] == HEADER and len(lines) == 2 and ",c-1," in lines[1] and lines[1].endswith(",1000,10.00")
    rejects = event_file.with_name(event_file.stem + ".rejects.csv")
    assert rejects.read_text(encoding="utf-8").splitlines()[1].startswith("4,cart_value 'x' is not a number")
    assert f"event file: {event_file}" in result.output
    assert "read        4\ntoo old     1\nsuperseded  1\nrejected    1\nwritten     1\n" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "give either --out DIR or --send"),
        (["--out", "x", "--send"], "give either --out DIR or --send"),
        (["--send", "--sftp"], "--sftp uploads the event file: it needs --out"),
        (["--out", "x", "--sftp"], "--sftp needs --sftp-user and --sftp-key"),
    ],
)
def test_conflicting_options_are_usage_errors(orders, args, message):
    result = run(orders, *args)
    assert result.exit_code == 2 and message in result.output


def test_out_without_a_client_id_takes_it_from_the_destination_settings(orders, tmp_path):
    config = tmp_path / "eventrouter.yaml"
    config.write_text(
        "destinations:\n"
        "  - {name: ext, type: extole, settings: {api_key: k, client_id: '2147483647'}}\n"
        "  - {name: ext-test, type: extole, settings: {api_key: k}}\n",
        encoding="utf-8",
    )
    env = {"EVENTROUTER_CONFIG": str(config)}
    result = run(orders, "--out", tmp_path / "out", "--destination", "ext", env=env)
    assert result.exit_code == 0, result.output
    assert [p.name[:22] for p in (tmp_path / "out").iterdir()] == ["2147483647_conversion_"] * 2
    result = run(orders, "--out", tmp_path / "out", "--destination", "ext-test", env=env)
    assert result.exit_code == 1 and "give --client-id or set client_id" in result.output
    result = run(orders, "--out", tmp_path / "out", env={"EVENTROUTER_CONFIG": str(tmp_path / "none.yaml")})
    assert result.exit_code == 1 and "give --client-id" in result.output


def test_send_queues_segment_tracks_into_the_extole_destinations_buffer(orders, tmp_path, redis_url):
    ns = f"bf{uuid.uuid4().hex[:8]}"
    config = tmp_path / "eventrouter.yaml"
    config.write_text(
        f"namespace: {ns}\ndata_dir: {tmp_path}\n"
        "destinations:\n  - {name: hook, type: webhook, settings: {url: 'http://127.0.0.1:9/'}}\n"
        "  - {name: ext, type: extole, settings: {api_key: k}}\n",
        encoding="utf-8",
    )
    result = run(orders, "--send", env={"EVENTROUTER_CONFIG": str(config), "REDIS_URL": redis_url})
    assert result.exit_code == 0, result.output
    assert "queued      1" in result.output
    assert (tmp_path / "orders.extole-rejects.csv").exists()
    client = redis.Redis.from_url(redis_url)
    [raw] = client.lrange(f"{ns}:buf:ext", 0, -1)
    event = json.loads(raw)["e"]
    assert (event["type"], event["event"], event["userId"]) == ("track", "conversion", "c-1")
    data = ExtoleDestination(ExtoleDestination.settings_schema().load({"api_key": "k"})).map(event)["body"]["data"]
    assert data["required_labels"] == "existing_customer" and data["partner_conversion_id"] == "1000"
    assert client.llen(f"{ns}:buf:hook") == 0
    client.delete(f"{ns}:buf:ext", f"{ns}:drainers:ext")


def test_send_wait_follows_delivery_to_extole_with_a_progress_bar(orders, tmp_path, redis_url):
    with FakeServer(lambda req: Reply(200, {"event_id": "1"})) as extole:
        config = write_config(tmp_path, [{"name": "ext", "type": "extole", "rate_limit": "50/second",
                                          "settings": {"api_key": "k", "base_url": extole.base_url}}])
        worker = Proc(config, "worker", "--with-scheduler", env={"REDIS_URL": redis_url})
        try:
            result = run(orders, "--send", "--wait", env={"EVENTROUTER_CONFIG": str(config), "REDIS_URL": redis_url})
        finally:
            worker.stop()
        assert result.exit_code == 0, result.output
        assert "ext: delivered 1, dead-lettered 0 (of 1)\n" in result.output
        (req,) = extole.requests
        assert req.path == "/v5/events" and req.json()["data"]["partner_conversion_id"] == "1000"


def test_send_wait_counts_delivered_and_dead_lettered_apart(tmp_path, redis_url):
    orders = tmp_path / "two.csv"
    orders.write_text("Email,Order ID,Total,Created At\nann@example.com,1,20,2999-01-01\nbad@example.com,2,20,2999-01-01\n")

    def extole_side(req):
        if req.json()["data"]["email"] == "bad@example.com":
            return Reply(400, {"code": "invalid_email"})
        return Reply(200, {"event_id": "1"})

    with FakeServer(extole_side) as extole:
        config = write_config(tmp_path, [{"name": "ext", "type": "extole", "rate_limit": "50/second",
                                          "settings": {"api_key": "k", "base_url": extole.base_url}}])
        worker = Proc(config, "worker", "--with-scheduler", env={"REDIS_URL": redis_url})
        try:
            result = run(orders, "--send", "--wait", env={"EVENTROUTER_CONFIG": str(config), "REDIS_URL": redis_url})
        finally:
            worker.stop()
    assert result.exit_code == 0, result.output
    assert "ext: delivered 1, dead-lettered 1 (of 2); see `eventrouter dead-letters ext`\n" in result.output


@pytest.fixture
def sftp(tmp_path: Path) -> Iterator[tuple[FakeSftp, Path, Path]]:
    user_key = paramiko.ECDSAKey.generate()
    key_file = tmp_path / "id_ecdsa"
    user_key.write_private_key_file(str(key_file))
    root = tmp_path / "sftp-root"
    (root / "events").mkdir(parents=True)
    with FakeSftp(root, "acme", user_key) as server:
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text(server.known_hosts_line())
        yield server, key_file, known_hosts


def test_sftp_uploads_the_event_file_to_the_events_directory(sftp, tmp_path):
    server, key_file, known_hosts = sftp
    local = tmp_path / "acme_conversion_20261123100000.csv"
    local.write_text(HEADER + "\r\nconversion,existing_customer,a@example.com,,,,,bf-1,\r\n", encoding="utf-8")
    remote = upload_sftp(local, username="acme", key_file=key_file, host="127.0.0.1", port=server.port, known_hosts=known_hosts)
    assert remote == "/events/acme_conversion_20261123100000.csv"
    assert (server.root / "events" / local.name).read_bytes() == local.read_bytes()


def test_sftp_refuses_a_host_whose_key_is_not_known(sftp, tmp_path):
    server, key_file, _ = sftp
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    local = tmp_path / "f.csv"
    local.write_text(HEADER)
    with pytest.raises(bf.BackfillError, match="SFTP upload to acme@127.0.0.1"):
        upload_sftp(local, username="acme", key_file=key_file, host="127.0.0.1", port=server.port, known_hosts=empty)
    assert not (server.root / "events" / "f.csv").exists()


def test_sftp_with_the_wrong_key_fails_with_a_clear_error(sftp, tmp_path):
    server, _, known_hosts = sftp
    other = tmp_path / "other_key"
    paramiko.ECDSAKey.generate().write_private_key_file(str(other))
    local = tmp_path / "f.csv"
    local.write_text(HEADER)
    with pytest.raises(bf.BackfillError, match="failed: Authentication failed"):
        upload_sftp(local, username="acme", key_file=other, host="127.0.0.1", port=server.port, known_hosts=known_hosts)


def test_sftp_reads_a_key_with_a_passphrase_and_says_when_it_is_wrong(tmp_path):
    user_key = paramiko.ECDSAKey.generate()
    key_file = tmp_path / "id_locked"
    user_key.write_private_key_file(str(key_file), password="s3cret")
    (tmp_path / "root" / "events").mkdir(parents=True)
    local = tmp_path / "f.csv"
    local.write_text(HEADER)
    with FakeSftp(tmp_path / "root", "acme", user_key) as server:
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text(server.known_hosts_line())
        options = dict(username="acme", key_file=key_file, host="127.0.0.1", port=server.port, known_hosts=known_hosts)
        for wrong in (None, "guess"):
            with pytest.raises(bf.BackfillError, match="cannot read the SFTP key"):
                upload_sftp(local, passphrase=wrong, **options)
        upload_sftp(local, passphrase="s3cret", **options)
    assert (tmp_path / "root" / "events" / "f.csv").read_text() == HEADER


def test_backfill_out_with_sftp_writes_then_uploads(orders, sftp, tmp_path):
    server, key_file, known_hosts = sftp
    result = run(
        orders, "--out", tmp_path / "out", "--client-id", "acme", "--sftp", "--sftp-host", "127.0.0.1",
        "--sftp-port", server.port, "--sftp-user", "acme", "--sftp-key", key_file, "--sftp-known-hosts", known_hosts,
    )
    assert result.exit_code == 0, result.output
    [uploaded] = (server.root / "events").iterdir()
    assert uploaded.read_bytes() == (tmp_path / "out" / uploaded.name).read_bytes()
    assert f"uploaded: acme@127.0.0.1:/events/{uploaded.name}" in result.output


def test_send_wait_ends_when_the_destinations_filters_drop_some_of_the_events(tmp_path, redis_url):
    orders = tmp_path / "two.csv"
    orders.write_text("Email,Order ID,Total,Created At\nann@example.com,1,20,2999-01-01\nstaff@example.com,2,20,2999-01-01\n")
    with FakeServer(lambda req: Reply(200, {"event_id": "1"})) as extole:
        config = write_config(tmp_path, [{"name": "ext", "type": "extole", "rate_limit": "50/second",
                                          "filters": [{"if": {"properties.email": {"equals": "staff@example.com"}}, "then": "drop"}],
                                          "settings": {"api_key": "k", "base_url": extole.base_url}}])
        worker = Proc(config, "worker", "--with-scheduler", env={"REDIS_URL": redis_url})
        backfill = Proc(config, "extole", "backfill", str(orders), "--send", "--wait", env={"REDIS_URL": redis_url})
        try:
            code = backfill.popen.wait(60)  # it waited for ever for the filtered event
        finally:
            backfill.stop()
            worker.stop()
    assert code == 0, backfill.output()
    assert "ext: delivered 1, dead-lettered 0, filtered 1 (of 2)" in backfill.output()
    assert len(extole.requests) == 1
