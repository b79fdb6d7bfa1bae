"""The session under the HTTP client (destinations/http.py): requests' own, with connections whose
answers must arrive in time, and with the proxy environment read once per vendor host."""
from __future__ import annotations

import http.client
import io
import socket
import time
import urllib.parse
from typing import Any

import requests
import requests.adapters
import urllib3
import urllib3.connection
import urllib3.poolmanager


class TimedReads(io.RawIOBase):
    """A socket's reads, with a deadline for the status line and headers, then for the body: the
    socket's timeout bounds each read only, so a vendor trickling its answer a byte per read, even
    inside one line (a header, a chunk-size line of 64 KB), would never time out."""

    def __init__(self, raw: Any, sock: socket.socket, per_read: float) -> None:
        self.raw = raw  # the socket's SocketIO: it keeps the socket open while the answer is read
        self.sock = sock
        self.per_read = per_read
        self.deadline: float | None = time.monotonic() + per_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("timed out")
            self.sock.settimeout(min(left, self.per_read))
        return self.raw.readinto(buffer)

    def close(self) -> None:
        self.raw.close()
        super().close()

    def headers_in(self) -> None:
        """The body's deadline is HttpClient._read_answer's (``deadline``), None until it reads."""
        self.deadline = None
        self.sock.settimeout(self.per_read)


class _Answer(http.client.HTTPResponse):
    """http.client's response, whose status line and headers must all arrive within the read timeout."""

    def __init__(self, sock: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        per_read = sock.gettimeout()
        self._reads = None if per_read is None else TimedReads(self.fp.detach(), sock, per_read)
        if self._reads is not None:
            self.fp = io.BufferedReader(self._reads)

    def begin(self) -> None:
        super().begin()
        if self._reads is not None:
            self._reads.headers_in()


class _Connection(urllib3.connection.HTTPConnection):
    response_class = _Answer


class _TlsConnection(urllib3.connection.HTTPSConnection):
    response_class = _Answer


class _Pool(urllib3.HTTPConnectionPool):
    ConnectionCls = _Connection


class _TlsPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _TlsConnection


class _Adapter(requests.adapters.HTTPAdapter):
    """requests' adapter, its connections answering with :class:`_Answer`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TlsPool}

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if manager.pool_classes_by_scheme is urllib3.poolmanager.pool_classes_by_scheme:  # not SOCKS's own
            manager.pool_classes_by_scheme = {"http": _Pool, "https": _TlsPool}
        return manager


class Session(requests.Session):
    """A ``requests.Session`` that reads the proxy and CA-bundle environment once per vendor host
    rather than at every request (a few hundred µs each: ``os.environ`` is walked twice). The
    environment of a running worker does not change; a new client reads it anew."""

    #: the most hosts whose settings are kept (destinations talk to a handful)
    MAX_HOSTS = 64

    def __init__(self) -> None:
        super().__init__()
        self.mount("https://", _Adapter())
        self.mount("http://", _Adapter())
        self._environment: dict[tuple[Any, ...], dict[str, Any]] = {}

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> dict[str, Any]:
        if proxies or not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urllib.parse.urlsplit(url)
        # the session's own settings are merged in too: they are part of the key
        key = (parts.scheme, parts.netloc, stream, verify, cert, self.stream, self.verify, self.cert,
               tuple(self.proxies.items()))
        settings = self._environment.get(key)
        if settings is None:
            if len(self._environment) >= self.MAX_HOSTS:
                self._environment.clear()
            settings = self._environment[key] = super().merge_environment_settings(url, {}, stream, verify, cert)
        return {**settings, "proxies": dict(settings["proxies"])}
