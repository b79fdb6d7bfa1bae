"""The ``eventrouter`` command as people use it: where --config goes, what a command needs
running, and output people can read (ISO times, tables, no internal keys)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from router.cli import hoist_config, main
from router.config import load_config
from router.records import iso_ms
from router.redis_server import EmbeddedRedis
from router.runtime import Runtime
from tests.fakes.http import FakeServer, Reply
from tests.helpers import WRITE_KEY, work

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, **cfg) -> Path:
    path = tmp_path / "eventrouter.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def cli_process(*args: str, cwd: Path | str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "router.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


@pytest.mark.parametrize("args", [
    ["--config", "{path}", "check-config"],
    ["check-config", "--config", "{path}"],
    ["check-config", "--config={path}"],
])
def test_config_is_accepted_before_or_after_the_command(tmp_path, args):
    path = write(tmp_path, sources=[{"name": "w", "write_keys": ["k"]}])
    result = invoke(*[a.format(path=path) for a in args])
    assert result.exit_code == 0 and result.output.startswith(f"{path}: ok — 1 sources, 0 destinations\n")


def test_config_comes_from_the_environment_when_not_given(tmp_path):
    path = write(tmp_path)
    result = invoke("check-config", env={"EVENTROUTER_CONFIG": str(path)})
    assert result.exit_code == 0 and result.output.startswith(f"{path}: ok")


def test_config_after_a_destination_command_reaches_that_command(tmp_path):
    path = write(tmp_path, destinations=[{"name": "ext", "type": "extole", "settings": {"api_key": "k", "client_id": "acme"}}])
    orders = tmp_path / "orders.csv"
    orders.write_text("Email,Order ID,Total,Created At\nann@example.com,1001,20,2999-01-01\n")
    result = invoke("extole", "backfill", str(orders), "--out", str(tmp_path / "out"), "--config", str(path))
    assert result.exit_code == 0, result.output
    assert re.search(r"event file: .*/acme_conversion_\d{14}\.csv", result.output)


def test_hoisting_leaves_what_follows_a_double_dash_alone():
    assert hoist_config(["up", "--port", "1", "--config", "c.yaml"]) == ["--config", "c.yaml", "up", "--port", "1"]
    assert hoist_config(["x", "--", "--config", "c"]) == ["x", "--", "--config", "c"]


def test_version_prints_the_package_version():
    result = invoke("--version")
    assert result.exit_code == 0 and re.fullmatch(r"eventrouter \d+\.\d+\.\d+\S*\n", result.output)


def test_check_config_prints_warnings_and_still_says_ok(tmp_path):
    path = write(tmp_path)
    result = invoke("check-config", "--config", str(path))
    assert result.exit_code == 0
    assert result.output == (
        f"{path}: ok — 0 sources, 0 destinations\n"
        "warning: no source with write_keys or webhook_secret: nothing can be sent to the router\n"
        "warning: no enabled destination: events are accepted and counted but delivered nowhere\n"
    )


def test_check_config_reports_every_error_of_the_file_at_once(tmp_path):
    path = write(tmp_path, destinations=[{"name": "h", "type": "webhook", "batch_size": "lots", "enabled": "maybe",
                                          "settings": {"url": "http://127.0.0.1/", "timeout": "x", "shared_secrt": "s"}}])
    result = CliRunner().invoke(main, ["check-config", "--config", str(path)])
    assert result.exit_code == 2
    assert sorted(result.output.splitlines()[1:]) == [
        "  destinations[0].batch_size: Not a valid integer.",
        "  destinations[0].enabled: Not a valid boolean.",
        "  destinations[0].settings.shared_secrt: unknown key; did you mean shared_secret?",
        "  destinations[0].settings.timeout: Not a valid number.",
    ]


@pytest.mark.parametrize("command", [["stats"], ["dead-letters", "hook"], ["replay", "hook"], ["retrying", "hook"],
                                     ["regulations"]])
def test_a_command_other_than_up_says_eventrouter_is_not_running_and_starts_no_redis(tmp_path, command):
    path = write(tmp_path, redis_url="embedded", data_dir="data",
                 destinations=[{"name": "hook", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/"}}])
    proc = cli_process(*command, "--config", str(path), cwd=tmp_path, env={"REDIS_URL": ""})
    assert proc.returncode == 1
    assert proc.stderr == (f"eventrouter is not running (no embedded Redis at {tmp_path / 'data' / 'redis.sock'}); "
                           "start it with eventrouter up\n")
    assert not (tmp_path / "data").exists()


def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("command", [["stats"], ["dead-letters", "hook"], ["replay", "hook"], ["retrying", "hook"],
                                     ["regulations"], ["trace", "--message-id", "m-1"]])
def test_a_redis_url_that_does_not_answer_is_said_in_one_line_naming_the_setting(tmp_path, command):
    port = closed_port()
    path = write(tmp_path, redis_url=f"redis://127.0.0.1:{port}/0",
                 destinations=[{"name": "hook", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/"}}])
    proc = cli_process(*command, "--config", str(path), cwd=tmp_path, env={"REDIS_URL": ""})
    assert proc.returncode == 1
    assert proc.stderr == (f"cannot reach Redis: Error 111 connecting to 127.0.0.1:{port}. Connection refused. "
                           f"Is it running? (redis_url in {path}; REDIS_URL overrides it)\n")


@pytest.mark.parametrize("command", [["dead-letters"], ["retrying"], ["replay"], ["test", "-"]])
def test_asking_another_command_for_the_demo_receiver_says_it_lives_only_inside_up_demo(tmp_path, command):
    path = write(tmp_path, redis_url="embedded", data_dir="data",
                 destinations=[{"name": "hook", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/"}}])
    result = CliRunner().invoke(main, [command[0], "demo-receiver", *command[1:], "--config", str(path)],
                                input="{}", env={"REDIS_URL": ""})
    assert (result.exit_code, result.output) == (2, (
        "no destination named 'demo-receiver' (configured: hook); demo-receiver is added by `eventrouter up --demo` "
        "to its own processes only: see its deliveries with eventrouter trace or on the dashboard\n"))


@pytest.mark.parametrize("role", ["scheduler", "worker"])
def test_a_process_started_before_its_redis_answers_waits_saying_where_it_dials(tmp_path, role):
    """The scheduler printed a redis-py traceback every tick, the worker only `(ConnectionError)`."""
    import selectors

    port = closed_port()
    path = write(tmp_path, redis_url=f"redis://127.0.0.1:{port}/0", sources=[{"name": "w", "write_keys": ["k"]}])
    proc = subprocess.Popen([sys.executable, "-m", "router.cli", role, "--config", str(path)], cwd=tmp_path,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": ""})
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stderr, selectors.EVENT_READ)
            first = proc.stderr.readline() if sel.select(timeout=30) else ""
    finally:
        proc.terminate()
        proc.wait(10)
    assert first == f"waiting for Redis (Error 111 connecting to 127.0.0.1:{port}. Connection refused.)\n"


@pytest.mark.parametrize("host, why", [
    ("10.255.255.1", "Cannot assign requested address"),
    ("no-such-host.invalid", "Name or service not known"),
])
def test_up_on_a_host_that_is_not_this_machines_says_to_choose_another_host_not_another_port(tmp_path, host, why):
    path = write(tmp_path, redis_url="embedded", data_dir="data")
    result = CliRunner().invoke(main, ["up", "--host", host, "--port", "8123", "--config", str(path)], env={"REDIS_URL": ""})
    assert (result.exit_code, result.output) == (1, (
        f"eventrouter cannot listen on {host}:8123: {why} (is {host} an address of this machine? "
        "choose another with --host)\n"))
    assert not (tmp_path / "data").exists()


def test_a_command_run_where_there_is_no_config_says_where_it_looked_and_how_to_name_one(tmp_path):
    proc = cli_process("check-config", cwd=tmp_path, env={"EVENTROUTER_CONFIG": ""})
    assert (proc.returncode, proc.stderr) == (2, (
        "configuration error in config/eventrouter.yaml:\n"
        f"  cannot read config file config/eventrouter.yaml: No such file or directory (looked in {tmp_path}; "
        "run eventrouter where config/eventrouter.yaml is, or name the file with --config PATH or EVENTROUTER_CONFIG)\n"))


@pytest.mark.parametrize("args, message", [
    (["up", "--port", "70000"], "Invalid value for '--port': 70000 is not in the range 1<=x<=65535."),
    (["up", "--workers", "-1"], "Invalid value for '--workers': -1 is not in the range x>=0."),
    (["up", "--web-workers", "0"], "Invalid value for '--web-workers': 0 is not in the range x>=1."),
    (["serve", "--port", "0"], "Invalid value for '--port': 0 is not in the range 1<=x<=65535."),
    (["serve", "--web-workers", "0"], "Invalid value for '--web-workers': 0 is not in the range x>=1."),
])
def test_a_port_or_process_count_out_of_range_is_refused_before_anything_starts(tmp_path, args, message):
    path = write(tmp_path, redis_url="embedded", data_dir="data")
    result = CliRunner().invoke(main, [*args, "--config", str(path)], env={"REDIS_URL": ""})
    assert (result.exit_code, result.output.splitlines()[-1]) == (2, f"Error: {message}")
    assert not (tmp_path / "data").exists()


def test_a_bad_redis_url_from_the_environment_is_blamed_on_redis_url_not_on_the_file(tmp_path):
    path = write(tmp_path, redis_url="embedded")
    result = invoke("check-config", "--config", str(path), env={"REDIS_URL": "localhost:6379"})
    assert (result.exit_code, result.output) == (2, (
        f"configuration error in {path}:\n"
        "  redis_url (from the REDIS_URL environment variable, which overrides the file's): "
        "embedded, or a URL starting with redis://, rediss://, unix://, redis+sentinel://\n"))


def test_a_command_run_from_another_directory_uses_the_embedded_redis_the_config_names(tmp_path):
    (tmp_path / "conf").mkdir()
    path = write(tmp_path / "conf", redis_url="embedded", data_dir="../state", namespace="far",
                 destinations=[{"name": "hook", "type": "webhook", "enabled": False, "settings": {"url": "http://127.0.0.1:9/"}}])
    server = EmbeddedRedis(tmp_path / "state")
    server.start()
    try:
        server_client = Runtime(load_config(str(path)))
        server_client.redis.hincrby("far:stats:_ingest", "accepted", 3)
        proc = cli_process("stats", "--config", str(path), cwd="/", env={"REDIS_URL": ""})
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "ingest: 3 accepted, 0 rejected, 0 duplicate, 0 suppressed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conf", "state"]


def runtime_for(path: Path, redis_client) -> Runtime:
    saved = os.environ.pop("REDIS_URL", None)
    try:
        rt = Runtime(load_config(str(path)), redis_client)
    finally:
        if saved is not None:
            os.environ["REDIS_URL"] = saved
    Runtime.set_current(rt)
    return rt


@pytest.fixture
def failing_hook(tmp_path, redis_url, redis_client):
    """A config whose webhook answers 422, one event dead-lettered, one refused at ingest."""
    ns = f"c{uuid.uuid4().hex[:10]}"
    def vendor(req):
        return Reply(503, {"error": "busy"}) if req.path == "/slow" else Reply(422, {"error": "no such list"})

    with FakeServer(vendor) as hook:
        path = write(tmp_path, namespace=ns, sources=[{"name": "web", "write_keys": [WRITE_KEY]}], destinations=[
            {"name": "hook", "type": "webhook", "settings": {"url": hook.base_url, "shared_secret": "hook-secret-1234"}},
            {"name": "off", "type": "webhook", "enabled": False, "settings": {"url": hook.base_url}},
            {"name": "slow", "type": "webhook", "settings": {"url": hook.base_url + "/slow"}},
        ])
        rt = runtime_for(path, redis_client)
        from router.app import create_app

        client = create_app(runtime=rt).test_client()
        client.post("/v1/track", json={"writeKey": WRITE_KEY, "userId": "u", "event": "e", "messageId": "m1"})
        client.post("/v1/track", json={"writeKey": WRITE_KEY, "userId": "u"})
        work(rt)
        yield path, {"REDIS_URL": redis_url}
    Runtime.set_current(None)
    keys = list(redis_client.scan_iter(f"{ns}*")) + list(redis_client.scan_iter(f"rq:*{ns}-*"))
    if keys:
        redis_client.delete(*keys)


def test_stats_is_a_table_of_ingest_counts_and_each_destination_with_its_state(failing_hook):
    path, env = failing_hook
    result = invoke("stats", "--config", str(path), env=env)
    assert result.exit_code == 0, result.output
    assert result.output == (
        "ingest: 1 accepted, 1 rejected, 0 duplicate, 0 suppressed\n"
        "DESTINATION  TYPE     STATE     BUFFERED  IN FLIGHT  RETRYING  DELIVERED  SKIPPED  RETRIED  DEAD LETTERS\n"
        "hook         webhook  enabled          0          0         0          0        0        0             1\n"
        "off          webhook  disabled         0          0         0          0        0        0             0\n"
        "slow         webhook  enabled          0          0         1          0        0        1             0\n"
    )
    doc = json.loads(invoke("stats", "--json", "--config", str(path), env=env).output)
    assert doc["ingest"] == {"accepted": 1, "rejected": 1, "duplicate": 0, "suppressed": 0}
    assert doc["destinations"][0]["dead_lettered"] == 1 and doc["destinations"][1]["enabled"] is False


def test_dead_letters_show_iso_times_for_people_and_epoch_ms_with_json_without_internal_keys(failing_hook):
    path, env = failing_hook
    human = invoke("dead-letters", "hook", "--config", str(path), env=env).output
    iso = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert re.search(rf"^failed at: +{iso}$", human, re.M) and re.search(rf"^received at: +{iso}$", human, re.M)
    assert re.search(r"^reason: +webhook answered 422$", human, re.M)
    assert re.search(r'^vendor answer: +\{"error": "no such list"\}$', human, re.M)
    assert "hook-secret-1234" not in human
    (line,) = invoke("dead-letters", "hook", "--json", "--config", str(path), env=env).output.splitlines()
    record = json.loads(line)
    assert not {"u", "r"} & set(record)
    assert all(isinstance(record[k], int) for k in ("received_at", "failed_at", "first_attempt_at"))


def test_retrying_shows_the_next_attempt_as_an_iso_time_and_the_last_error(failing_hook):
    path, env = failing_hook
    human = invoke("retrying", "slow", "--config", str(path), env=env).output
    assert re.search(r"^next attempt: +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", human, re.M)
    assert re.search(r"^last error: +webhook answered 503$", human, re.M)
    (line,) = invoke("retrying", "slow", "--json", "--config", str(path), env=env).output.splitlines()
    assert isinstance(json.loads(line)["next_attempt_at"], int)
    assert invoke("retrying", "hook", "--config", str(path), env=env).output == "hook: nothing waiting for a retry\n"


@pytest.mark.parametrize("since", ["100000000d", "1960-01-01T00:00:00Z"])
def test_replay_since_further_back_than_1970_replays_every_dead_letter_instead_of_crashing(failing_hook, since):
    path, env = failing_hook
    result = CliRunner().invoke(main, ["replay", "hook", "--since", since, "--config", str(path)], env=env)
    assert (result.exit_code, result.output) == (0, "hook: 1 dead letters re-queued\n"), result.exception


@pytest.mark.parametrize("since", ["garbage", "2h ago", "-2h", "2026-13-01"])
def test_replay_since_garbage_is_a_clear_error_with_exit_code_2(failing_hook, since):
    path, env = failing_hook
    result = CliRunner().invoke(main, ["replay", "hook", "--since", since, "--config", str(path)], env=env)
    assert result.exit_code == 2 and "--since takes an ISO date-time or a duration like 2h" in result.output


def test_replay_since_an_iso_time_without_an_offset_reads_it_as_utc_like_every_time_shown(monkeypatch):
    from router.cli_records import _since_ms

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert _since_ms("2026-12-01T10:00:00") == _since_ms("2026-12-01T10:00:00Z") == 1796119200000
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize("command", ["retrying", "dead-letters"])
def test_a_limit_below_one_is_a_usage_error_rather_than_everything_or_a_traceback(failing_hook, command):
    path, env = failing_hook
    for limit in ("0", "-1"):
        result = CliRunner().invoke(main, [command, "slow" if command == "retrying" else "hook", "--limit", limit,
                                           "--json", "--config", str(path)], env=env)
        assert result.exit_code == 2 and "Invalid value for '--limit'" in result.output, result.exception


def test_dead_letters_and_retrying_redact_a_secret_configured_after_the_record_was_stored(tmp_path, redis_url, redis_client):
    ns = f"c{uuid.uuid4().hex[:10]}"
    with FakeServer(lambda req: Reply(503 if req.path == "/slow" else 422, {"error": "no"})) as hook:
        dests = [{"name": "hook", "type": "webhook", "settings": {"url": hook.base_url}},
                 {"name": "slow", "type": "webhook", "settings": {"url": hook.base_url + "/slow"}}]
        path = write(tmp_path, namespace=ns, sources=[{"name": "web", "write_keys": [WRITE_KEY]}], destinations=dests)
        rt = runtime_for(path, redis_client)
        from router.app import create_app

        create_app(runtime=rt).test_client().post("/v1/track", json={"writeKey": WRITE_KEY, "userId": "u", "event": "e", "properties": {"key": "tok-late-secret-99"}})
        work(rt)
    Runtime.set_current(None)
    try:
        assert rt.queue.dead_letters("hook")[0][1]["event"]["properties"] == {"key": "tok-late-secret-99"}
        for d in dests:  # the key is now a header value: a secret
            d["settings"]["headers"] = {"X-Key": "tok-late-secret-99"}
        write(tmp_path, namespace=ns, sources=[{"name": "web", "write_keys": [WRITE_KEY]}], destinations=dests)
        for command in (["dead-letters", "hook"], ["dead-letters", "hook", "--json"], ["retrying", "slow", "--json"]):
            result = invoke(*command, "--config", str(path), env={"REDIS_URL": redis_url})
            assert result.exit_code == 0 and "[redacted]" in result.output, result.output
            assert "tok-late-secret-99" not in result.output
    finally:
        keys = list(redis_client.scan_iter(f"{ns}*")) + list(redis_client.scan_iter(f"rq:*{ns}-*"))
        if keys:
            redis_client.delete(*keys)


def test_stats_shows_an_open_circuit_breaker_with_its_iso_time(tmp_path, redis_url, redis_client):
    ns = f"c{uuid.uuid4().hex[:10]}"
    path = write(tmp_path, namespace=ns, sources=[{"name": "web", "write_keys": [WRITE_KEY]}], destinations=[
        {"name": "down", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/"}, "breaker": {"pause": "10m"}}])
    rt = runtime_for(path, redis_client)
    try:
        from router.app import create_app

        create_app(runtime=rt).test_client().post("/v1/track", json={"writeKey": WRITE_KEY, "userId": "u", "event": "e"})
        work(rt)  # no answer: the breaker opens for 10 minutes
        until = rt.queue.depth("down")["breaker_open_until"]
        assert until > 0
        out = invoke("stats", "--config", str(path), env={"REDIS_URL": redis_url}).output
        row = out.splitlines()[2]
        assert row.startswith("down ") and f"breaker open until {iso_ms(until)}" in row
    finally:
        Runtime.set_current(None)
        keys = list(redis_client.scan_iter(f"{ns}*")) + list(redis_client.scan_iter(f"rq:*{ns}-*"))
        if keys:
            redis_client.delete(*keys)


def test_stats_shows_the_users_whose_events_wait_in_order(tmp_path, redis_url, redis_client):
    ns = f"c{uuid.uuid4().hex[:10]}"
    with FakeServer(lambda req: Reply(503, "down")) as hook:
        path = write(tmp_path, namespace=ns, sources=[{"name": "web", "write_keys": [WRITE_KEY]}], destinations=[
            {"name": "crm", "type": "webhook", "ordering": "per_user", "settings": {"url": hook.base_url}}])
        rt = runtime_for(path, redis_client)
        try:
            from router.app import create_app

            create_app(runtime=rt).test_client().post("/v1/track", json={"writeKey": WRITE_KEY, "userId": "u", "event": "e"})
            work(rt)  # its first event waits for a retry: the user is held
            assert rt.queue.depth("crm")["ordered_users"] == 1
            row = invoke("stats", "--config", str(path), env={"REDIS_URL": redis_url}).output.splitlines()[2]
            assert row.startswith("crm ") and "1 users waiting in order" in row
        finally:
            Runtime.set_current(None)
            keys = list(redis_client.scan_iter(f"{ns}*")) + list(redis_client.scan_iter(f"rq:*{ns}-*"))
            if keys:
                redis_client.delete(*keys)


def declared_closure() -> set[str]:
    """setup.cfg's install_requires and, installed, everything they require in turn (no extras)."""
    import configparser
    from importlib import metadata

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    names = [re.split(r"[<>=!~ ;\[]", line.strip())[0] for line in cfg["options"]["install_requires"].splitlines() if line.strip()]
    seen: set[str] = set()
    while names:
        name = names.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:  # only on other platforms (colorama on Windows)
            continue
        for req in requires:
            if "extra ==" not in req.replace('"', "").replace("'", ""):
                names.append(re.split(r"[<>=!~ ;\[(]", req.strip())[0])
    return seen


def test_every_package_the_processes_import_is_installed_by_pip_install():
    """gunicorn's gevent worker imports `packaging` without declaring it: in a fresh venv `up`'s web
    process crashed six times and `up` stopped everything. Here every installed distribution that
    `pip install -e .` would not bring is hidden while the processes' modules are imported."""
    from importlib import metadata

    declared = declared_closure() | {"eventrouter"}
    hidden = sorted({m for m, dists in metadata.packages_distributions().items()
                     if not {d.lower().replace("_", "-") for d in dists} & declared} - {"router", "destinations", "tests"})
    code = ("import sys\n"
            "class Hide:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            f"        if name.split('.')[0] in {hidden!r}: raise ModuleNotFoundError(f'No module named {{name!r}}')\n"
            "sys.meta_path.insert(0, Hide())\n"
            "import router.cli, router.app, router.gunicorn_conf, router.ingest_wsgi, gunicorn.workers.ggevent\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-300:]
