"""The vendor of the bench: counts the events it receives and, for events that carry
``properties.t0`` (sender's clock, ms), how long they took to arrive. A process of its own
(gevent WSGI) so neither the router nor the bare loop shares its CPU accounting.

    python -m bench.receiver PORT

``GET /stats``: count, first and last arrival (ms) and the latencies; ``POST /reset``."""
from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import orjson  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402

MAX_LATENCIES = 200_000

state: dict = {}


def reset() -> None:
    state.update(count=0, first=0.0, last=0.0, lat=[])


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/stats":
        body = orjson.dumps(state)
    elif path == "/reset":
        reset()
        body = b"{}"
    else:
        raw = environ["wsgi.input"].read()
        now = time.time() * 1000
        data = orjson.loads(raw) if raw else None
        events = data if isinstance(data, list) else [data]
        if isinstance(data, dict) and isinstance(data.get("batch"), list):
            events = data["batch"]
        state["count"] += len(events)
        state["first"] = state["first"] or now
        state["last"] = now
        lat = state["lat"]
        for e in events:
            t0 = (e.get("properties") or {}).get("t0") if isinstance(e, dict) else None
            if t0 and len(lat) < MAX_LATENCIES:
                lat.append(now - t0)
        body = b"{}"
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class Server(WSGIServer):
    def handle(self, sock, address):
        # headers and body leave in separate writes: without this, Nagle + delayed ACK cost 40 ms a request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle(sock, address)


if __name__ == "__main__":
    reset()
    Server(("127.0.0.1", int(sys.argv[1])), app, log=None).serve_forever()
