"""The vendor and the client of the multi-host test, each run inside its own namespace:

    python -m tests.e2e.multihost_roles vendor HOST PORT LOG
    python -m tests.e2e.multihost_roles client OUT COUNT URL [URL...]
"""
from __future__ import annotations

import json
import signal
import sys
import threading
import time
import uuid

import requests

from tests.fakes.http import FakeServer, Reply, Request

WRITE_KEY = "e2e-write-key"
BATCH = 20


def vendor(host: str, port: int, log_path: str) -> None:
    """A webhook receiver that appends (arrival time, messageId) for every request to ``log_path``."""
    log = open(log_path, "a", buffering=1)
    lock = threading.Lock()

    def handle(req: Request) -> Reply:
        with lock:
            log.write(json.dumps({"t": time.time(), "id": req.json()["messageId"]}) + "\n")
        return Reply(200, {})

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with FakeServer(handle, host=host, port=port):
        print("listening", flush=True)
        stop.wait(300)


def post(url: str, batch: list[dict], deadline: float) -> dict:
    """POST until an answer that is not a 5xx or a refused connection (bounded by ``deadline``)."""
    while True:
        try:
            r = requests.post(f"{url}/v1/batch", json={"batch": batch, "writeKey": WRITE_KEY}, timeout=10)
            if r.status_code < 500:
                return {"status": r.status_code, **r.json()}
        except requests.RequestException:
            pass  # the web host is still starting
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer")
        time.sleep(0.2)


def client(out: str, count: int, urls: list[str]) -> None:
    """Sends ``count`` events in batches, alternating web hosts, then each batch again to the
    next host (a client retrying elsewhere): those must all be duplicates."""
    deadline = time.monotonic() + 120
    acked: list[str] = []
    answers: list[dict] = []
    duplicates: list[dict] = []
    for n, start in enumerate(range(0, count, BATCH)):
        batch = [{"type": "track", "event": "Order Completed", "userId": f"u{i % 37}", "messageId": f"mh-{i}-{uuid.uuid4().hex[:6]}"}
                 for i in range(start, min(count, start + BATCH))]
        answer = post(urls[n % len(urls)], batch, deadline)
        answers.append(answer)
        if answer["status"] == 200 and answer["accepted"] == len(batch):
            acked += [e["messageId"] for e in batch]
        duplicates.append(post(urls[(n + 1) % len(urls)], batch, deadline))
    with open(out, "w") as f:
        json.dump({"acked": acked, "answers": answers, "duplicates": duplicates, "done": time.time()}, f)


if __name__ == "__main__":
    role, *args = sys.argv[1:]
    if role == "vendor":
        vendor(args[0], int(args[1]), args[2])
    else:
        client(args[0], int(args[1]), args[2:])
