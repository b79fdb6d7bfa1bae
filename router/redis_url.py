"""What a Redis URL says, and whether a client could ever use it (said at start-up, not as a 503
for every event): redis://, rediss://, unix:// and ``redis+sentinel://``. Connecting is
router/redis_server.py ``connect``."""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote

import redis

SENTINEL_SCHEME = "redis+sentinel://"


@dataclass(frozen=True)
class SentinelURL:
    """``redis+sentinel://`` parsed. The user and password are the data nodes' (master and
    replicas); sentinels that require their own take ``sentinel_username`` / ``sentinel_password``
    in the query."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # secrets never in a log line
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    ssl: bool = False
    #: ssl_ca_certs, ssl_certfile, ... for the data nodes' TLS connections (with ssl=1)
    ssl_options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, url: str) -> "SentinelURL":
        rest = url[len(SENTINEL_SCHEME):]
        _check_userinfo(rest)
        netloc, _, tail = rest.partition("/")
        path, _, query = tail.partition("?")
        userinfo, at, hosts = netloc.rpartition("@")
        username = password = None
        if at:
            user, colon, pw = userinfo.partition(":")
            username, password = (unquote(user) or None), (unquote(pw) if colon else None)
        sentinels = []
        for hostport in hosts.split(","):
            host, colon, port = hostport.strip().rpartition(":")
            if not colon or not host or not port.isdigit():
                raise ValueError(f"{SENTINEL_SCHEME} wants host:port[,host:port...] before the service name, not {hostport!r}")
            sentinels.append((host.strip("[]"), int(port)))
        parts = [p for p in path.split("/") if p]
        if not parts:
            raise ValueError(f"{SENTINEL_SCHEME} needs the monitored service name: {SENTINEL_SCHEME}host:26379/mymaster")
        params = dict(parse_qsl(query))
        ssl_options = tuple(sorted((k, v) for k, v in params.items() if k.startswith("ssl_")))
        unknown = set(params) - {"db", "sentinel_username", "sentinel_password", "ssl"} - {k for k, _ in ssl_options}
        if unknown:
            raise ValueError(f"{SENTINEL_SCHEME} does not know {', '.join(sorted(unknown))} "
                             "(known: db, ssl, ssl_*, sentinel_username, sentinel_password)")
        db = params.get("db", parts[1] if len(parts) > 1 else "0")
        if not db.isdigit():
            raise ValueError(f"{SENTINEL_SCHEME} db must be a number, not {db!r}")
        if ssl_options and params.get("ssl", "").lower() not in ("1", "true", "yes"):
            # without ssl=1 they would be dropped and the client would talk plain text
            raise ValueError(f"{SENTINEL_SCHEME} takes {', '.join(k for k, _ in ssl_options)} only with ssl=1")
        return cls(tuple(sentinels), unquote(parts[0]), int(db), username, password,
                   params.get("sentinel_username"), params.get("sentinel_password"),
                   params.get("ssl", "").lower() in ("1", "true", "yes"), ssl_options)

    def ssl_kwargs(self) -> dict[str, Any]:
        """The ssl_* options typed as redis-py types them in a rediss:// URL (``ssl_check_hostname=false``
        is False, not the truthy string "false")."""
        from redis.connection import URL_QUERY_ARGUMENT_PARSERS

        return {k: URL_QUERY_ARGUMENT_PARSERS[k](v) if k in URL_QUERY_ARGUMENT_PARSERS else v
                for k, v in self.ssl_options}


def _check_userinfo(rest: str) -> None:
    """A password with an unencoded ``/`` splits the URL in the wrong place, and the parsers'
    errors would then quote a piece of it: refuse it without showing any of it."""
    userinfo = rest.partition("?")[0].rpartition("@")[0]
    if "/" in userinfo:
        raise ValueError("the user or password contains '/': write it percent-encoded (%2F), "
                         "as any of / ? # @ in a URL's user or password")


def check_url(url: str) -> None:
    """Raise ValueError with the reason ``connect(url)`` could never work (an unknown option, a port
    or db that is no number): said at start-up, not as a 503 (or 500) for every event."""
    scheme, _, rest = url.partition("://")
    if CONTROL.search(url):
        raise ValueError("the Redis URL holds a control character (a line break, a NUL...)")
    if url.startswith(SENTINEL_SCHEME):
        u = SentinelURL.parse(url)
        _check_values({"db": u.db})
        if u.ssl:
            _check_options(lambda: redis.SSLConnection(**u.ssl_kwargs()))
            _check_tls_files(dict(u.ssl_options))
        return
    _check_tls_files(dict(parse_qsl(rest.partition("?")[2])))
    if scheme in ("redis", "rediss"):
        _check_userinfo(rest)
        path = rest.partition("?")[0].partition("/")[2]
        if path.strip("/") and not path.strip("/").isdigit():
            raise ValueError(f"the db (the URL's path) must be a number, not {path.strip('/')!r}")
    pool = _check_options(lambda: redis.ConnectionPool.from_url(url))
    if scheme == "unix" and not pool.connection_kwargs.get("path"):
        raise ValueError("unix:// needs the socket's path: unix:///path/to/redis.sock")
    _check_values(pool.connection_kwargs)
    _check_options(pool.make_connection)


CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: the options that are seconds: each a finite number, not below 0
SECONDS = ("socket_timeout", "socket_connect_timeout", "health_check_interval")


def _check_values(options: dict[str, Any]) -> None:
    """Numbers redis-py takes as they come but that no connection can use: NaN or infinite
    seconds (a socket refuses them at every connect), a db Redis can't select."""
    for name in SECONDS:
        value = options.get(name)
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a number of seconds, not {value!r}")
    db = options.get("db", 0)
    if not 0 <= db < 2**31:
        raise ValueError(f"the db must be a number from 0 (Redis has 16 unless configured otherwise), not {db}")


#: options naming files: one missing only shows as "Error 2 connecting ... No such file" at each try
TLS_FILES = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")


def _check_tls_files(options: dict[str, str]) -> None:
    for name in TLS_FILES:
        path = options.get(name)
        if path and not os.access(path, os.R_OK):
            raise ValueError(f"{name}: cannot read {path}")


def _check_options(make: Callable[[], Any]) -> Any:
    """Build (not connect) what the options describe (a pool, a connection); its complaint, made readable."""
    try:
        return make()
    except TypeError as exc:
        unknown = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if not unknown:
            raise
        raise ValueError(f"the Redis URL does not know {unknown.group(1)} "
                         "(options are redis-py's connection arguments, e.g. ssl_ca_certs, ssl_certfile, "
                         "ssl_keyfile, ssl_cert_reqs, ssl_check_hostname)") from None
    except ValueError as exc:
        if "Port" in str(exc):  # redis-py quotes the port, a piece of a mangled password
            raise ValueError("the port must be a number") from None
        raise
    except redis.RedisError as exc:
        raise ValueError(str(exc)) from None


def safe_url(url: str) -> str:
    """A Redis URL fit for a log line: no password, neither the nodes' nor the sentinels'."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, tail = rest.partition("/")
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    if "?" in tail:
        path, _, query = tail.partition("?")
        pairs = [(k, "***" if "password" in k.lower() else v) for k, v in parse_qsl(query, keep_blank_values=True)]
        tail = path + "?" + "&".join(f"{k}={v}" for k, v in pairs)
    return f"{scheme}://{netloc}{slash}{tail}"
