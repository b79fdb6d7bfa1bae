"""The ceilings: what the stack itself (gunicorn + Flask + Redis + requests) does with no router.

- ``app``: a Flask app that only parses the JSON body and RPUSHes the raw events in one
  pipeline (``/v1/batch``: each event of the batch; ``/v1/track``: the body). Run it on the
  same gunicorn setup as eventrouter's web: ``gunicorn -k gevent ... bench.bare:app``.
- ``wsgi``: the same without Flask, a plain WSGI function: the ceiling of the stack below Flask
  (eventrouter answers the Tracking API's POSTs before Flask, router/ingest_wsgi.py).
- ``python -m bench.bare deliver REDIS_URL KEY URL MODE COUNT SECONDS``: a loop that LPOPs
  100 raw events and POSTs them with a requests.Session (MODE ``batch``: one JSON array
  per 100; ``each``: one request per event) until COUNT were posted or SECONDS passed.

It parses and dumps JSON with the same library as eventrouter's hot path (orjson when
installed), so the ratio measures the router's own work, not a faster parser.
"""
from __future__ import annotations

import os
import sys
import time

import redis
from flask import Flask, request

try:
    import orjson

    loads, dumps = orjson.loads, orjson.dumps
except ImportError:  # pragma: no cover - the router's before-tree may not have it
    import json

    loads = json.loads

    def dumps(v):  # type: ignore[no-redef]
        return json.dumps(v, separators=(",", ":")).encode()

KEY = os.environ.get("BARE_KEY", "bare:raw")
app = Flask(__name__)
_redis = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"))


@app.post("/v1/batch")
def batch():
    body = loads(request.get_data())
    pipe = _redis.pipeline(transaction=False)
    pipe.rpush(KEY, *[dumps(e) for e in body["batch"]])
    pipe.execute()
    return {"success": True}


@app.post("/v1/track")
def track():
    body = loads(request.get_data())
    pipe = _redis.pipeline(transaction=False)
    pipe.rpush(KEY, dumps(body))
    pipe.execute()
    return {"success": True}


def wsgi(environ, start_response):
    """``app`` without Flask: read the declared length, parse, RPUSH, answer."""
    if environ["REQUEST_METHOD"] != "POST":
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    body = loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
    events = body["batch"] if environ["PATH_INFO"] == "/v1/batch" else [body]
    pipe = _redis.pipeline(transaction=False)
    pipe.rpush(KEY, *[dumps(e) for e in events])
    pipe.execute()
    out = b'{"success":true}\n'
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]


def deliver(redis_url: str, key: str, url: str, mode: str, count: int, seconds: float) -> None:
    import requests

    r = redis.Redis.from_url(redis_url)
    s = requests.Session()
    headers = {"Content-Type": "application/json"}
    sent = 0
    deadline = time.monotonic() + seconds
    while sent < count and time.monotonic() < deadline:
        items = r.lpop(key, 100)
        if not items:
            break
        if mode == "batch":
            s.post(url, data=b"[" + b",".join(items) + b"]", headers=headers, timeout=30).raise_for_status()
        else:
            for item in items:
                s.post(url, data=item, headers=headers, timeout=30).raise_for_status()
        sent += len(items)
    print(sent)


if __name__ == "__main__":
    if sys.argv[1] == "deliver":
        deliver(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]), float(sys.argv[7]))
