"""The commands that run eventrouter's processes: ``up`` (all of them, supervised), ``serve`` (web),
``worker`` and ``scheduler``; and the web's gunicorn command line, which the benches start too."""
from __future__ import annotations

import errno
import importlib
import os
import signal
import socket
import sys
import threading
from typing import Any

import click
import redis

from router.cli_loading import fail, known_destination, load_checked_config, load_runtime
from router.config import Config, config_path, config_warnings
from router.demo import DEMO_DESTINATION, start_demo_receiver
from router.redis_server import EmbeddedRedis, wait_for
from router.redis_url import safe_url
from router.supervisor import Supervisor


#: 0 would make the OS pick one, and the URL printed would not be the one listened on
PORT = click.IntRange(1, 65535)


def cannot_listen(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on and what to change (the port or the host), or None.

    SO_REUSEADDR as gunicorn sets it: a port left in TIME_WAIT by the last run is free,
    one with a listener is not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            why = exc.strerror or str(exc)
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return f"{why} (is another eventrouter or program using it? choose another port with --port)"
            return f"{why} (is {host} an address of this machine? choose another with --host)"
    return None


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8088, show_default=True, type=PORT)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=0), help="delivery worker processes")
@click.option("--web-workers", default=2, show_default=True, type=click.IntRange(min=1), help="gunicorn processes")
@click.option("--demo", is_flag=True, help="also start a local receiver and an enabled webhook destination to it")
def up(host: str, port: int, workers: int, web_workers: int, demo: bool) -> None:
    """Start everything: (embedded) Redis, web, workers and scheduler. Ctrl-C stops it all."""
    path = config_path()
    receiver = start_demo_receiver() if demo else None
    cfg = load_checked_config()
    why = cannot_listen(host, port)
    if why:
        fail(f"eventrouter cannot listen on {host}:{port}: {why}", 1)
    env = dict(os.environ, EVENTROUTER_CONFIG=os.path.abspath(path))
    stopping = threading.Event()

    def stop(*_: Any) -> None:
        stopping.set()

    # before anything starts: a Ctrl-C while the embedded Redis starts would otherwise leave it running.
    # SIGHUP too (a closed terminal or ssh session): by default it ends `up` alone, orphaning its children and Redis
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    embedded = None
    supervisor = None
    try:
        if cfg.embedded:
            embedded = EmbeddedRedis(cfg.data_dir)
            if embedded.orphaned():
                click.echo(f"the embedded Redis of an eventrouter up that is gone still runs; starting it again "
                           f"on {cfg.data_dir} under this one", err=True)
            embedded.start(adopt=True)  # False: another live `up` owns it; share it (the supervisor takes it over if that one goes)
            env["REDIS_URL"] = EmbeddedRedis(cfg.data_dir).url
            where = f"embedded Redis, data in {cfg.data_dir}"
        else:
            where = f"Redis at {safe_url(cfg.redis_url)}"
        if stopping.is_set():
            return
        supervisor = start_children(cfg, env, embedded, host, port, workers, web_workers)
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
        supervisor.run(stopping)
    finally:
        if supervisor is not None:
            supervisor.stop()
        elif embedded is not None:
            embedded.stop()  # only one this `up` started
        if receiver:
            receiver.stop()
        click.echo("eventrouter stopped")
    if supervisor.gave_up:
        raise SystemExit(1)  # a supervisor (systemd's Restart=on-failure, a script) must see the failure


def start_children(cfg: Config, env: dict[str, str], embedded: EmbeddedRedis | None, host: str, port: int,
                   workers: int, web_workers: int) -> Supervisor:
    """web, scheduler and workers under a supervisor, after requeueing what dead workers had taken."""
    me = [sys.executable, "-m", "router.cli"]
    supervisor = Supervisor(env, embedded, env.get("REDIS_URL") or cfg.redis_url, lambda message: click.echo(message, err=True))
    supervisor.rescue_taken([f"{cfg.namespace}-{d.name}" for d in cfg.enabled_destinations])  # Runtime.queue_name
    supervisor.spawn("web", gunicorn_command(host, port, web_workers, access_log=True))
    supervisor.spawn("scheduler", me + ["scheduler"])
    for _ in range(workers):
        supervisor.spawn("worker", me + ["worker"])
    return supervisor


#: gevent: a connection waiting on a slow or idle client costs a greenlet, not one of
#: the few processes, so slow clients can't hold ingest (README "Slow and idle clients")
WORKER_CONNECTIONS = 1000


def gunicorn_command(host: str, port: int, web_workers: int, access_log: bool = False) -> list[str]:
    """The web process as `up` and `serve` run it (the Procfile runs `eventrouter serve`)."""
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # gunicorn reads an IPv6 host only in brackets
    cmd = [sys.executable, "-m", "gunicorn", "-w", str(web_workers), "-b", bind, "--graceful-timeout", "5",
           "-k", "gevent", "--worker-connections", str(WORKER_CONNECTIONS), "-c", "python:router.gunicorn_conf"]
    if access_log:
        # no %(u)s: the Basic-auth user is the write key
        cmd += ["--access-logfile", "-", "--access-logformat", '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms']
    return cmd + ["router.app:create_app()"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8088, show_default=True, type=PORT)
@click.option("--web-workers", default=2, show_default=True, type=click.IntRange(min=1))
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


@click.command()
@click.option("--queues", default=None, help="comma-separated destination names (default: all enabled)")
@click.option("--burst", is_flag=True, help="exit when the queues are empty")
@click.option("--with-scheduler", is_flag=True, help="also run the scheduler loop in this process")
def worker(queues: str | None, burst: bool, with_scheduler: bool) -> None:
    """Run one delivery worker (RQ SimpleWorker) over the destinations' queues."""
    from rq import SimpleWorker

    from router.rescue import worker_name
    from router.runtime import Runtime
    from router.scheduler import Scheduler

    importlib.import_module("router.delivery")  # the drain job's module, loaded now rather than by the first job
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
                w = SimpleWorker(rt.rq_queues(names), connection=rt.redis, name=worker_name())
            except redis.RedisError as exc:
                click.echo(f"Redis went away while the worker started ({type(exc).__name__}); waiting for it", err=True)
        try:
            w.work(burst=burst, logging_level="WARNING")
            return
        except redis.RedisError as exc:
            # RQ quits when Redis goes away while it books a finished job (a failover at that
            # moment); the drain's own state is in Redis already: start again once it is back
            click.echo(f"Redis went away under the worker ({type(exc).__name__}); starting again", err=True)


@click.command()
def scheduler() -> None:
    """Run the scheduler: due retries, expired leases, drain wake-ups, dead-letter trimming."""
    from router.scheduler import Scheduler

    rt = load_runtime()
    wait_for(rt.redis, lambda msg: click.echo(msg, err=True))  # as a worker does: one line, not a traceback a tick
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    Scheduler(rt).run(stop)
