"""A TCP proxy in front of Redis that can lose one answer: the command runs in Redis, and the
connection breaks before its reply reaches the client (a network cut, a restart, a timeout)."""
from __future__ import annotations

import socket
import threading
from typing import Any
from urllib.parse import urlsplit


def dial(url: str) -> socket.socket:
    """A connection to the Redis at ``url`` (redis://host:port or unix:///path)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(parts.path)
        return s
    return socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379))


class RedisProxy:
    """Listens on 127.0.0.1 (``url``); each connection gets its own to the Redis at ``target``."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._marker: bytes | None = None
        #: how many replies were lost
        self.cut = 0
        self._lock = threading.Lock()
        self._closed = False

    @property
    def url(self) -> str:
        """``target`` through the proxy (its user, password and database kept)."""
        parts = urlsplit(self.target)
        if parts.scheme == "unix":
            return f"redis://127.0.0.1:{self.port}/0"
        auth = parts.netloc.rpartition("@")[0]
        return f"redis://{auth + '@' if auth else ''}127.0.0.1:{self.port}{parts.path}{'?' + parts.query if parts.query else ''}"

    def lose_reply_to(self, marker: bytes) -> None:
        """The next command that contains ``marker`` runs, and its reply is lost with its connection."""
        self._marker = marker

    def __enter__(self) -> "RedisProxy":
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = dial(self.target)
            state = {"doomed": False}
            threading.Thread(target=self._upstream, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client, state), daemon=True).start()

    def _upstream(self, client: socket.socket, server: socket.socket, state: dict[str, bool]) -> None:
        try:
            while data := client.recv(65536):
                with self._lock:
                    if self._marker is not None and self._marker in data:
                        self._marker = None
                        state["doomed"] = True
                server.sendall(data)
        except OSError:
            pass  # the other side closed the pair
        _close(client, server)

    def _downstream(self, server: socket.socket, client: socket.socket, state: dict[str, bool]) -> None:
        try:
            while data := server.recv(65536):
                if state["doomed"]:
                    self.cut += 1
                    break
                client.sendall(data)
        except OSError:
            pass  # the other side closed the pair
        _close(client, server)


def _close(*socks: socket.socket) -> None:
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed
        s.close()
