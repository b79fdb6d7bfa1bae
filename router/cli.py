"""``eventrouter``: up | serve | worker | scheduler | check-config | replay | dead-letters | stats,
plus each destination's own commands (``eventrouter extole backfill ...``)."""
from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click
import redis

from destinations import registry
from destinations.registry import BUILTIN
from router import logs
from router.config import Config, config_path, config_warnings, load_config
from router.config_fields import parse_duration
from router.demo import DEMO_DESTINATION, start_demo_receiver
from router.errors import ConfigError
from router.records import dead_letter, destination_counts, with_iso_times
from router.redis_server import EmbeddedRedis, RedisNotRunning, safe_url, wait_for
from router.supervisor import Supervisor

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
    """The ``eventrouter`` group: ``--config`` anywhere on the line; a missing embedded Redis is a
    message, not a traceback, for every command (the destinations' own ones too)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_config(list(args)))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RedisNotRunning as exc:
            fail(str(exc), 1)


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


@main.command("check-config")
def check_config() -> None:
    """Validate the configuration and exit (non-zero on errors; warnings keep exit code 0)."""
    path = config_path()
    cfg = load_checked_config()
    click.echo(f"{path}: ok — {len(cfg.sources)} sources, {len(cfg.destinations)} destinations")
    for d in cfg.destinations:
        rate = f"{d.rate_limit.count:g}/{int(d.rate_limit.period)}s" if d.rate_limit else "unlimited"
        state = "enabled" if d.enabled else "disabled"
        click.echo(f"  {d.name} ({d.type}, {state}): batch {d.batch_size}, rate {rate}, events {', '.join(sorted(d.subscribe))}")
    for warning in config_warnings(cfg):
        click.echo(f"warning: {warning}")
    for slug, cause in registry.problems().items():
        click.echo(f"warning: destination plugin {slug!r} could not be loaded (not used here): {cause}")


def table(rows: list[list[str]]) -> None:
    """Rows as left-aligned columns, the first row the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


@main.group("destinations", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="JSON lines (for scripts)")
@click.pass_context
def destinations_cmd(ctx: click.Context, as_json: bool) -> None:
    """The installed destination plugins (built-in and third-party), what they handle and their limits."""
    from router.plugins import plugin_rows

    if ctx.invoked_subcommand:
        return
    rows = plugin_rows()
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    out = [["TYPE", "PACKAGE", "VERSION", "EVENTS", "BATCH", "RATE LIMIT", "DELETE"]]
    for r in rows:
        if "error" in r:
            out.append([r["type"], r["package"], r["version"], "BROKEN (see below)", "", "", ""])
        else:
            out.append([r["type"], r["package"], r["version"], ",".join(r["events"]),
                        f"{r['batch_size']} (max {r['max_batch_size']})", r["rate_limit"] or "none",
                        "yes" if r["delete"] else "no"])
    table(out)
    for r in rows:
        if "error" in r:
            click.echo(f"{r['type']}: {r['error']}")


@destinations_cmd.command("show")
@click.argument("type_", metavar="TYPE")
def destinations_show(type_: str) -> None:
    """The settings of the plugin TYPE: type, default, secret or not, description."""
    from router.plugins import setting_rows

    try:
        rows = setting_rows(type_)
    except KeyError:
        fail(f"no destination plugin {type_!r} (installed: {', '.join(registry.available())})", 2)
    except registry.PluginLoadError as exc:
        fail(str(exc), 1)
    out = [["SETTING", "TYPE", "DEFAULT", "SECRET", "DESCRIPTION"]]
    out += [[r["name"], r["type"], r["default"], "secret" if r["secret"] else "", r["description"]] for r in rows]
    table(out)


@main.command("new-destination")
@click.argument("name")
@click.option("--dir", "directory", default=".", show_default=True, type=click.Path(file_okay=False),
              help="where the package's folder is made")
def new_destination(name: str, directory: str) -> None:
    """Write a new destination plugin package NAME: packaging with the entry point, settings, a mapper
    with a field table, a client, and tests that run the kit's contract suite. It passes its tests as written."""
    from destinations.kit.scaffold import ScaffoldError, write_package

    try:
        made = write_package(name, directory)
    except ScaffoldError as exc:
        fail(str(exc), 2)
    click.echo(f"wrote {made.root} (destination type `{made.slug}`, module {made.module})")
    click.echo(f"  pip install -e {made.root}   # registers it through the eventrouter.destinations entry point")
    click.echo(f"  pytest {made.root}")


def cannot_listen(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (taken by another program), or None.

    SO_REUSEADDR as gunicorn sets it: a port left in TIME_WAIT by the last run is free,
    one with a listener is not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8088, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="delivery worker processes")
@click.option("--web-workers", default=2, show_default=True, type=int, help="gunicorn processes")
@click.option("--demo", is_flag=True, help="also start a local receiver and an enabled webhook destination to it")
def up(host: str, port: int, workers: int, web_workers: int, demo: bool) -> None:
    """Start everything: (embedded) Redis, web, workers and scheduler. Ctrl-C stops it all."""
    path = config_path()
    receiver = start_demo_receiver() if demo else None
    cfg = load_checked_config()
    why = cannot_listen(host, port)
    if why:
        fail(f"eventrouter cannot listen on {host}:{port}: {why} (is another eventrouter or program using it? "
             "choose another port with --port)", 1)
    env = dict(os.environ, EVENTROUTER_CONFIG=os.path.abspath(path))
    embedded = None
    if cfg.embedded:
        embedded = EmbeddedRedis(cfg.data_dir)
        if not embedded.start():
            embedded = None  # another `up` owns it; share it
        env["REDIS_URL"] = EmbeddedRedis(cfg.data_dir).url
        where = f"embedded Redis, data in {cfg.data_dir}"
    else:
        where = f"Redis at {safe_url(cfg.redis_url)}"
    me = [sys.executable, "-m", "router.cli"]
    supervisor = Supervisor(env, embedded, env.get("REDIS_URL") or cfg.redis_url, lambda message: click.echo(message, err=True))
    supervisor.spawn("web", gunicorn_command(host, port, web_workers, access_log=True))
    supervisor.spawn("scheduler", me + ["scheduler"])
    for _ in range(workers):
        supervisor.spawn("worker", me + ["worker"])
    keys = [k for s in cfg.sources for k in s.write_keys]
    click.echo(f"eventrouter is up at http://{host}:{port}")
    click.echo(f"  write key{'s' if len(keys) != 1 else ''}: {', '.join(keys) or '(none configured)'}")
    click.echo(f"  {where}; config {os.path.abspath(path)}")
    enabled = len(cfg.enabled_destinations)
    click.echo(f"  {workers} worker{'s' if workers != 1 else ''}, 1 scheduler, {enabled} enabled "
               f"destination{'s' if enabled != 1 else ''}. Ctrl-C stops.")
    if receiver:
        click.echo(f"  demo: webhook destination {DEMO_DESTINATION} delivers to {receiver.url}, which prints what it gets")
    for warning in config_warnings(cfg):
        click.echo(f"warning: {warning}", err=True)
    stopping = threading.Event()

    def stop(*_: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        supervisor.run(stopping)
    finally:
        supervisor.stop()
        if receiver:
            receiver.stop()
        click.echo("eventrouter stopped")


#: gevent: a connection waiting on a slow or idle client costs a greenlet, not one of
#: the few processes, so slow clients can't hold ingest (README "Slow and idle clients")
WORKER_CONNECTIONS = 1000


def gunicorn_command(host: str, port: int, web_workers: int, access_log: bool = False) -> list[str]:
    """The web process as `up` and `serve` run it (the Procfile runs `eventrouter serve`)."""
    cmd = [sys.executable, "-m", "gunicorn", "-w", str(web_workers), "-b", f"{host}:{port}", "--graceful-timeout", "5",
           "-k", "gevent", "--worker-connections", str(WORKER_CONNECTIONS), "-c", "python:router.gunicorn_conf"]
    if access_log:
        # no %(u)s: the Basic-auth user is the write key
        cmd += ["--access-logfile", "-", "--access-logformat", '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms']
    return cmd + ["router.app:create_app()"]


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8088, show_default=True, type=int)
@click.option("--web-workers", default=2, show_default=True, type=int)
@click.option("--dev", is_flag=True, help="Flask's threaded server instead of gunicorn")
def serve(host: str, port: int, web_workers: int, dev: bool) -> None:
    """Run only the web process (the HTTP Tracking API)."""
    if dev:
        from router.app import create_app

        create_app(runtime=load_runtime()).run(host=host, port=port, threaded=True)
        return
    load_runtime()  # fail fast on a bad config, before forking
    cmd = gunicorn_command(host, port, web_workers)
    os.execv(cmd[0], cmd)


@main.command()
@click.option("--queues", default=None, help="comma-separated destination names (default: all enabled)")
@click.option("--burst", is_flag=True, help="exit when the queues are empty")
@click.option("--with-scheduler", is_flag=True, help="also run the scheduler loop in this process")
def worker(queues: str | None, burst: bool, with_scheduler: bool) -> None:
    """Run one delivery worker (RQ SimpleWorker) over the destinations' queues."""
    from rq import SimpleWorker

    import router.delivery  # noqa: F401  (the drain job's module, loaded now rather than by the first job)
    from router.runtime import Runtime
    from router.scheduler import Scheduler

    cfg = load_checked_config()
    names = [q.strip() for q in queues.split(",")] if queues else None
    for n in names or []:
        known_destination(cfg, n)
    rt = load_runtime(cfg)
    Runtime.set_current(rt)
    if with_scheduler:
        threading.Thread(target=Scheduler(rt).run, args=(threading.Event(),), daemon=True).start()
    while True:
        w = None
        while w is None:
            wait_for(rt.redis, lambda msg: click.echo(msg, err=True))
            try:  # registering the worker talks to Redis: a failover at that moment means wait again, not exit
                w = SimpleWorker(rt.rq_queues(names), connection=rt.redis)
            except redis.RedisError as exc:
                click.echo(f"Redis went away while the worker started ({type(exc).__name__}); waiting for it", err=True)
        try:
            w.work(burst=burst, logging_level="WARNING")
            return
        except redis.RedisError as exc:
            # RQ quits when Redis goes away while it books a finished job (a failover at that
            # moment); the drain's own state is in Redis already: start again once it is back
            click.echo(f"Redis went away under the worker ({type(exc).__name__}); starting again", err=True)


@main.command()
def scheduler() -> None:
    """Run the scheduler: due retries, expired leases, drain wake-ups, dead-letter trimming."""
    from router.scheduler import Scheduler

    rt = load_runtime()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    Scheduler(rt).run(stop)


def _since_ms(since: str | None) -> int:
    """``--since``: an ISO date-time, or a duration ago (``2h``, ``7d``)."""
    if not since:
        return 0
    try:
        return int((time.time() - parse_duration(since)) * 1000)
    except ValueError:
        pass
    try:
        return int(datetime.fromisoformat(since).timestamp() * 1000)
    except ValueError:
        fail(f"--since takes an ISO date-time or a duration like 2h: {since!r}", 2)
    return 0


@main.command("replay")
@click.argument("destination")
@click.option("--since", default=None, help="only dead letters since an ISO date-time or a duration ago (2h)")
def replay_cmd(destination: str, since: str | None) -> None:
    """Re-queue a destination's dead letters."""
    from router.replay import replay

    cfg = load_checked_config()
    known_destination(cfg, destination)
    n = replay(load_runtime(cfg), destination, since_ms=_since_ms(since))
    click.echo(f"{destination}: {n} dead letters re-queued")


JSON_HELP = "JSON lines, times in epoch milliseconds (for scripts)"


def show_records(records: list[dict[str, Any]], as_json: bool, fields: list[tuple[str, str]], empty: str) -> None:
    """Records for people (ISO 8601 times, one labelled field a line) or, with --json, for scripts."""
    if as_json:
        for rec in records:
            click.echo(json.dumps(rec, ensure_ascii=False))
        return
    if not records:
        click.echo(empty)
    for rec in map(with_iso_times, records):
        click.echo("")
        width = max(len(label) for _, label in fields)
        for key, label in fields:
            value = rec.get(key)
            if value is None or value == "":
                continue
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            click.echo(f"{label + ':':<{width + 1}} {text}")


@main.command("dead-letters")
@click.argument("destination")
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def dead_letters_cmd(destination: str, limit: int, as_json: bool) -> None:
    """Show a destination's newest dead letters (secrets redacted)."""
    cfg = load_checked_config()
    known_destination(cfg, destination)
    rt = load_runtime(cfg)
    found = [dead_letter(eid, rec) for eid, rec in rt.queue.dead_letters(destination, count=limit, newest_first=True)]
    show_records(found, as_json, [
        ("entry_id", "dead letter"), ("failed_at", "failed at"), ("reason", "reason"), ("status", "HTTP status"),
        ("attempts", "attempts"), ("first_attempt_at", "first attempt"), ("received_at", "received at"),
        ("response", "vendor answer"), ("event", "event"), ("payload", "sent"),
    ], f"{destination}: no dead letters")


@main.command()
@click.argument("destination")
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def retrying(destination: str, limit: int, as_json: bool) -> None:
    """Show events waiting to be retried, soonest first, with their last error."""
    cfg = load_checked_config()
    known_destination(cfg, destination)
    found = load_runtime(cfg).queue.retrying(destination, limit)
    show_records(found, as_json, [
        ("id", "event id"), ("next_attempt_at", "next attempt"), ("attempts", "attempts"),
        ("first_attempt_at", "first attempt"), ("last_error", "last error"), ("event", "event"),
    ], f"{destination}: nothing waiting for a retry")


STATS_COLUMNS = [("buffered", "BUFFERED"), ("inflight_batches", "IN FLIGHT"), ("retrying", "RETRYING"),
                 ("delivered", "DELIVERED"), ("skipped", "SKIPPED"), ("retried", "RETRIED"),
                 ("dead_letters", "DEAD LETTERS")]


@main.command()
@click.option("--json", "as_json", is_flag=True, help="one JSON document, as GET /v1/admin/destinations answers")
def stats(as_json: bool) -> None:
    """Ingest counts, and per destination its state, queue depth and delivery counters."""
    from router.admin import ingest_counts

    rt = load_runtime()
    ingest = ingest_counts(rt)
    dests = [{"name": d.name, "type": d.type, "enabled": d.enabled, **destination_counts(rt.queue.depth(d.name))}
             for d in rt.config.destinations]
    if as_json:
        click.echo(json.dumps({"ingest": ingest, "destinations": dests}))
        return
    click.echo("ingest: " + ", ".join(f"{v} {k}" for k, v in ingest.items()))
    rows = [["DESTINATION", "TYPE", "STATE"] + [label for _, label in STATS_COLUMNS]]
    for d in dests:
        rows.append([d["name"], d["type"], "enabled" if d["enabled"] else "disabled"]
                    + [str(d.get(key, 0)) for key, _ in STATS_COLUMNS])
    if len(rows) == 1:
        click.echo("no destinations configured")
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        cells = [c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        click.echo("  ".join(cells).rstrip())


@main.command()
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON lines (for scripts)")
def regulations(limit: int, as_json: bool) -> None:
    """GDPR regulations, newest first, with their status per destination."""
    from router.regulations import list_regulations

    found = list_regulations(load_runtime(), limit)
    if as_json:
        for reg in found:
            click.echo(json.dumps(reg))
        return
    if not found:
        click.echo("no regulations")
    for reg in found:
        per = ", ".join(f"{name} {d['status']}" for name, d in reg["destinations"].items()) or "no destination"
        click.echo(f"{reg['createdAt']}  {reg['regulateId']}  {reg['regulationType']}  {reg['subjects']} subjects  "
                   f"{reg['status']}: {per}")


@main.command("test")
@click.argument("destination")
@click.argument("event_file", type=click.File("r", encoding="utf-8"))
@click.option("--send", is_flag=True, help="send it once and show the vendor's answer (default: a dry run)")
def test_cmd(destination: str, event_file: Any, send: bool) -> None:
    """Show what DESTINATION would do with the Segment event in EVENT_FILE (- for stdin): validation,
    routing and why, the exact vendor request(s), secrets redacted. Exit 0 when it would be delivered."""
    from router.tester import run_test, would_deliver

    rt = load_runtime()
    known_destination(rt.config, destination)
    try:
        event = json.load(event_file)
    except ValueError as exc:
        fail(f"{event_file.name} is not valid JSON: {exc}", 2)
    report = run_test(rt, destination, event, send=send)
    click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    sys.exit(0 if would_deliver(report) else 1)


@main.command("trace")
@click.option("--message-id", default=None, help="the event's messageId")
@click.option("--user-id", default=None, help="the user's latest events (newest first)")
@click.option("--limit", default=20, show_default=True)
def trace_cmd(message_id: str | None, user_id: str | None, limit: int) -> None:
    """What happened to an event: received when, routed where and why (not), each attempt (JSON lines)."""
    from router.trace import search

    if not (message_id or user_id):
        fail("give --message-id or --user-id", 2)
    found = search(load_runtime(), message_id=message_id, user_id=user_id, limit=limit)
    if not found:
        fail("no trace found (traces are kept for dedup_ttl, the newest trace.max_events events)", 1)
    for t in found:
        click.echo(json.dumps(t, ensure_ascii=False))


def _mount_destination_commands() -> None:
    """Each built-in plugin's own commands (``eventrouter extole backfill``), handed the host."""
    from destinations.host import with_host
    from router.host import RouterHost

    host = RouterHost()
    for slug in BUILTIN:
        try:
            module = importlib.import_module(f"destinations.{slug}.cli")
        except ModuleNotFoundError as exc:
            if exc.name in (f"destinations.{slug}.cli", f"destinations.{slug}"):
                continue  # this destination has no commands
            raise
        main.add_command(with_host(module.cli, host), slug)


_mount_destination_commands()

if __name__ == "__main__":
    main()
