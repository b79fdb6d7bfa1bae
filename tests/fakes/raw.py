"""A vendor on 127.0.0.1 that misbehaves at the byte level (a trickled body, an endless one, a
close mid-answer), which http.server can't play: it reads each request, then hands the socket to
``behave(conn)``, which writes whatever it likes."""
from __future__ import annotations

import socket
import threading
from typing import Any, Callable

Behave = Callable[[socket.socket], None]


class RawVendor:
    def __init__(self, behave: Behave) -> None:
        self.behave = behave
        self.requests: list[bytes] = []  # each request's head and body, as received
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> "RawVendor":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._listener.close()
        with self._lock:
            for conn in self._open:
                conn.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # closed by __exit__
                return
            with self._lock:
                self._open.append(conn)
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline(65537)
                    if not line:
                        return
                    head += line
                length = next((int(h.split(b":", 1)[1]) for h in head.split(b"\r\n")
                               if h.lower().startswith(b"content-length:")), 0)
                with self._lock:
                    self.requests.append(head + reader.read(length))
                self.behave(conn)
        except OSError:  # the client gave up on us: what these tests expect
            return
