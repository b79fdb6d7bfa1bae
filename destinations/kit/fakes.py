"""A real HTTP server on 127.0.0.1 that plays a vendor in tests (shipped with the kit so that
a plugin's own tests use the same fake vendors as the built-in ones).

Each fake vendor is a handler function ``handle(req) -> Reply`` that checks
what it receives the way the vendor documents it (auth, path, body) and
answers like the vendor. Every request is recorded, so tests can assert the
exact bodies that crossed the wire.

    def handle(req):
        if req.headers.get("Authorization") != "Bearer k":
            return Reply(401, {"code": "invalid_access_token"})
        return Reply(200, {})

    with FakeServer(handle) as vendor:
        ... vendor.base_url ... vendor.requests[0].json()
"""
from __future__ import annotations

import gzip
import json
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        """The body as application/x-www-form-urlencoded; a repeated key is an error."""
        pairs = urllib.parse.parse_qsl(self.body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(self.body))
        out: dict[str, str] = {}
        for k, v in pairs:
            if k in out:
                raise AssertionError(f"form key {k!r} sent twice")
            out[k] = v
        return out


@dataclass
class Reply:
    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: seconds to wait before answering (to test timeouts)
    delay: float = 0.0

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, self.headers.get("Content-Type", "text/plain")
        if isinstance(self.body, str):
            return self.body.encode(), self.headers.get("Content-Type", "text/plain; charset=utf-8")
        return json.dumps(self.body).encode(), "application/json"


Handler = Callable[[Request], Reply]


class FakeServer:
    """A threaded HTTP server on an ephemeral loopback port."""

    def __init__(self, handler: Handler | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        """``host``/``port``: another address only inside a test's own network namespace (multi-host test)."""
        self.handler: Handler = handler or (lambda req: Reply(200, {}))
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        outer = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # headers and body go out in separate writes: without this, Nagle + delayed ACK add 40 ms a request
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                parsed = urllib.parse.urlsplit(self.path)
                req = Request(
                    method=self.command,
                    path=parsed.path,
                    query=urllib.parse.parse_qs(parsed.query, keep_blank_values=True),
                    headers={k: v for k, v in self.headers.items()},
                    body=body,
                )
                with outer._lock:
                    outer.requests.append(req)
                try:
                    reply = outer.handler(req)
                except AssertionError as exc:
                    # the fake vendor refuses what the real one would refuse
                    reply = Reply(400, {"fake_vendor_assertion": str(exc)})
                if reply.delay:
                    time.sleep(reply.delay)
                data, ctype = reply.encoded()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in reply.headers.items():
                        if k.lower() != "content-type":
                            self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test); nothing to deliver

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer((host, port), _H)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "FakeServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Request]:
        """Wait until at least ``count`` requests arrived; fail the test otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} requests, got {len(self.requests)} in {timeout}s")
