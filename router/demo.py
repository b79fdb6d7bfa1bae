"""``eventrouter up --demo``: a first run where the event is seen arriving.

A tiny HTTP server on 127.0.0.1 prints every request it gets, and an enabled
webhook destination (added to the config of every process through
``EVENTROUTER_DEMO_URL``) delivers to it — so the README's first curl shows
up in the terminal, whatever the config's own destinations are.
"""
from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import click

#: the environment variable that adds the demo destination to the config
DEMO_ENV = "EVENTROUTER_DEMO_URL"
DEMO_DESTINATION = "demo-receiver"


def demo_destination(url: str) -> dict[str, Any]:
    """The destination ``--demo`` adds: every event type the webhook handles, one request per event."""
    return {"name": DEMO_DESTINATION, "type": "webhook", "enabled": True, "settings": {"url": url}}


def describe(event: Any) -> str:
    """One line for people: the call, its name, who, then the whole event."""
    if not isinstance(event, dict):
        return json.dumps(event, ensure_ascii=False)
    kind = event.get("type", "?")
    name = event.get("event") or event.get("name") or ""
    who = event.get("userId") or event.get("anonymousId") or ""
    head = " ".join(p for p in (kind, json.dumps(name) if name else "", f"from {who}" if who else "") if p)
    return f"{head}: {json.dumps(event, ensure_ascii=False, separators=(',', ':'))}"


class DemoReceiver:
    """The local receiver: answers 200 to any POST and prints the events it carried."""

    def __init__(self, echo: Callable[[str], None] = click.echo) -> None:
        echo_ = echo

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    data = json.loads(body)
                except ValueError:
                    data = body.decode("utf-8", "replace")
                for event in data if isinstance(data, list) else [data]:
                    echo_(f"demo receiver got {describe(event)}")
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PUT = do_POST

            def log_message(self, *args: Any) -> None:
                return  # the events themselves are printed; no access log

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/events"
        self.thread = threading.Thread(target=self.server.serve_forever, name="demo-receiver", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_demo_receiver() -> DemoReceiver:
    """Start the receiver and make this process's config (and its children's) deliver to it."""
    receiver = DemoReceiver()
    os.environ[DEMO_ENV] = receiver.url
    return receiver
