"""``eventrouter``: up | serve | worker | scheduler | check-config | replay | dead-letters | stats,
plus each destination's own commands (``eventrouter extole backfill ...``)."""
from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from typing import Any

import click

from destinations.registry import BUILTIN
from router import logs
from router.config import config_path, load_config, parse_duration
from router.errors import ConfigError
from router.redis_server import EmbeddedRedis, wait_for


#: `up` restarts an exited child, unless children exit more than this often
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0


def fail(message: str, code: int = 1) -> None:
    click.echo(message, err=True)
    sys.exit(code)


def known_destination(rt: Any, name: str) -> None:
    """Exit with the configured names when ``name`` is not one of them."""
    try:
        rt.config.destination(name)
    except KeyError as exc:
        fail(str(exc.args[0]), 2)


def load_runtime():
    from router.runtime import Runtime

    try:
        rt = Runtime.load()
    except ConfigError as exc:
        fail(f"configuration error in {config_path()}:\n" + "\n".join(f"  {line}" for line in str(exc).splitlines()), 2)
    logs.configure(rt.config.log_format)  # observe: log_format text|json
    return rt


@click.group()
@click.option("--config", "config", envvar="EVENTROUTER_CONFIG", default=None, help="YAML config (default config/eventrouter.yaml)")
@click.option("-v", "--verbose", is_flag=True, help="debug logging")
def main(config: str | None, verbose: bool) -> None:
    """Self-hosted, Segment-compatible event router."""
    if config:
        os.environ["EVENTROUTER_CONFIG"] = config
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command("check-config")
def check_config() -> None:
    """Validate the configuration and exit (non-zero on errors)."""
    path = config_path()
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        fail(f"configuration error in {path}:\n" + "\n".join(f"  {line}" for line in str(exc).splitlines()), 2)
    click.echo(f"{path}: ok — {len(cfg.sources)} sources, {len(cfg.destinations)} destinations")
    for d in cfg.destinations:
        rate = f"{d.rate_limit.count:g}/{int(d.rate_limit.period)}s" if d.rate_limit else "unlimited"
        state = "enabled" if d.enabled else "disabled"
        click.echo(f"  {d.name} ({d.type}, {state}): batch {d.batch_size}, rate {rate}, events {', '.join(sorted(d.subscribe))}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8088, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="delivery worker processes")
@click.option("--web-workers", default=2, show_default=True, type=int, help="gunicorn processes")
def up(host: str, port: int, workers: int, web_workers: int) -> None:
    """Start everything: (embedded) Redis, web, workers and scheduler. Ctrl-C stops it all."""
    path = config_path()
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        fail(f"configuration error in {path}:\n" + "\n".join(f"  {line}" for line in str(exc).splitlines()), 2)
    env = dict(os.environ, EVENTROUTER_CONFIG=os.path.abspath(path))
    embedded = None
    if cfg.embedded:
        embedded = EmbeddedRedis(cfg.data_dir)
        if not embedded.start():
            embedded = None  # another `up` owns it; share it
        env["REDIS_URL"] = EmbeddedRedis(cfg.data_dir).url
        where = f"embedded Redis, data in {cfg.data_dir}"
    else:
        where = f"Redis at {_safe_url(cfg.redis_url)}"
    me = [sys.executable, "-m", "router.cli"]
    procs: list[subprocess.Popen[bytes]] = [
        subprocess.Popen(gunicorn_command(host, port, web_workers, access_log=True), env=env),
        subprocess.Popen(me + ["scheduler"], env=env),
    ]
    procs += [subprocess.Popen(me + ["worker"], env=env) for _ in range(workers)]
    keys = [k for s in cfg.sources for k in s.write_keys]
    click.echo(f"eventrouter is up at http://{host}:{port}")
    click.echo(f"  write key{'s' if len(keys) != 1 else ''}: {', '.join(keys) or '(none configured)'}")
    click.echo(f"  {where}; config {os.path.abspath(path)}")
    click.echo(f"  {workers} workers, 1 scheduler, {len(cfg.enabled_destinations)} destinations. Ctrl-C stops.")
    stopping = threading.Event()

    def stop(*_: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    restarts: list[float] = []
    try:
        while not stopping.is_set():
            for i, p in enumerate(procs):
                if p.poll() is None or stopping.is_set():
                    continue
                # a crashed worker must not take the web process down with it: start it again
                restarts = [t for t in restarts if time.monotonic() - t < RESTART_WINDOW] + [time.monotonic()]
                if len(restarts) > MAX_RESTARTS:
                    click.echo(f"children keep exiting ({len(restarts)} in {RESTART_WINDOW:.0f}s); stopping", err=True)
                    stopping.set()
                    break
                click.echo(f"{_role(p.args)} exited with code {p.returncode}; starting it again", err=True)
                procs[i] = subprocess.Popen(p.args, env=env)
            stopping.wait(0.5)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
        if embedded:
            embedded.stop()
        click.echo("eventrouter stopped")


def _role(args: Any) -> str:
    return "web" if "gunicorn" in args else str(args[-1])


def gunicorn_command(host: str, port: int, web_workers: int, access_log: bool = False) -> list[str]:
    cmd = [sys.executable, "-m", "gunicorn", "-w", str(web_workers), "-b", f"{host}:{port}", "--graceful-timeout", "5"]
    if access_log:
        # no %(u)s: the Basic-auth user is the write key
        cmd += ["--access-logfile", "-", "--access-logformat", '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms']
    return cmd + ["router.app:create_app()"]


def _safe_url(url: str) -> str:
    """A Redis URL without its password."""
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


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

    from router.runtime import Runtime
    from router.scheduler import Scheduler

    rt = load_runtime()
    Runtime.set_current(rt)
    names = [q.strip() for q in queues.split(",")] if queues else None
    for n in names or []:
        known_destination(rt, n)
    wait_for(rt.redis, lambda msg: click.echo(msg, err=True))
    if with_scheduler:
        threading.Thread(target=Scheduler(rt).run, args=(threading.Event(),), daemon=True).start()
    w = SimpleWorker(rt.rq_queues(names), connection=rt.redis)
    w.work(burst=burst, logging_level="WARNING")


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

    rt = load_runtime()
    try:
        n = replay(rt, destination, since_ms=_since_ms(since))
    except KeyError as exc:
        fail(str(exc.args[0]), 2)
    click.echo(f"{destination}: {n} dead letters re-queued")


@main.command("dead-letters")
@click.argument("destination")
@click.option("--limit", default=20, show_default=True)
def dead_letters_cmd(destination: str, limit: int) -> None:
    """Show a destination's newest dead letters (JSON lines, secrets redacted)."""
    rt = load_runtime()
    known_destination(rt, destination)
    for eid, rec in rt.queue.dead_letters(destination, count=limit, newest_first=True):
        click.echo(json.dumps({"entry_id": eid, **rec}, ensure_ascii=False))


@main.command()
@click.argument("destination")
@click.option("--limit", default=20, show_default=True)
def retrying(destination: str, limit: int) -> None:
    """Show events waiting to be retried, soonest first, with their last error (JSON lines)."""
    rt = load_runtime()
    known_destination(rt, destination)
    for entry in rt.queue.retrying(destination, limit):
        click.echo(json.dumps(entry, ensure_ascii=False))


@main.command()
def stats() -> None:
    """Queue depth and counters per destination."""
    rt = load_runtime()
    for d in rt.config.destinations:
        click.echo(json.dumps({"destination": d.name, **rt.queue.depth(d.name)}))


@main.command()
@click.option("--limit", default=50, show_default=True)
def regulations(limit: int) -> None:
    """GDPR regulations, newest first, with their status per destination."""
    from router.regulations import list_regulations

    for reg in list_regulations(load_runtime(), limit):
        click.echo(json.dumps(reg))


@main.command("test")
@click.argument("destination")
@click.argument("event_file", type=click.File("r", encoding="utf-8"))
@click.option("--send", is_flag=True, help="send it once and show the vendor's answer (default: a dry run)")
def test_cmd(destination: str, event_file: Any, send: bool) -> None:
    """Show what DESTINATION would do with the Segment event in EVENT_FILE (- for stdin): validation,
    routing and why, the exact vendor request(s), secrets redacted. Exit 0 when it would be delivered."""
    from router.tester import run_test, would_deliver

    rt = load_runtime()
    known_destination(rt, destination)
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
    for slug in BUILTIN:
        try:
            module = importlib.import_module(f"destinations.{slug}.cli")
        except ModuleNotFoundError as exc:
            if exc.name in (f"destinations.{slug}.cli", f"destinations.{slug}"):
                continue  # this destination has no commands
            raise
        main.add_command(module.cli, slug)


_mount_destination_commands()

if __name__ == "__main__":
    main()
