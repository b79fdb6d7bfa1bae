"""The Tracking API's POSTs are answered before Flask (router/ingest_wsgi.py) exactly as the
Flask views answer them: same status, body and headers, same events stored."""
from __future__ import annotations

import base64
import gzip
import io
import json
import os
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder, run_wsgi_app

from router.app import create_app
from router.ingest_wsgi import TrackingAPI
from tests.helpers import WRITE_KEY

AUTH = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
HOOK = {"name": "hook", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/hook"}}
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
#: what a client can read of an answer
HEADERS = ("Content-Type", "Content-Length", "Retry-After", "Vary", "Access-Control-Allow-Origin",
           "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
           "Access-Control-Expose-Headers", "Access-Control-Max-Age")


class Pair:
    """Two apps on their own namespaces: one with the layer in front, one with only the Flask views."""

    def __init__(self, make_runtime) -> None:
        self.rts = [make_runtime(destinations=[HOOK]) for _ in range(2)]
        lean, flask = (create_app(runtime=rt) for rt in self.rts)
        assert isinstance(lean.wsgi_app, TrackingAPI)
        flask.wsgi_app = flask.wsgi_app.flask  # type: ignore[attr-defined]
        self.clients = [lean.test_client(), flask.test_client()]

    def post(self, path: str, data: bytes, headers: dict[str, str]) -> list[Any]:
        return [c.post(path, data=data, headers=headers) for c in self.clients]

    def stored(self) -> list[list[dict[str, Any]]]:
        """Each app's buffered events, without what differs by when and where they were received."""
        out = []
        for rt in self.rts:
            events = [orjson.loads(x)["e"] for x in rt.redis.lrange(rt.queue.keys.buf("hook"), 0, -1)]
            for e in events:
                for k in ("receivedAt", "timestamp", "messageId"):
                    e.pop(k, None)
            out.append(events)
        return out


def same_answers(lean: Any, flask: Any) -> None:
    assert lean.status == flask.status
    assert lean.get_data() == flask.get_data()
    assert {h: lean.headers.get(h) for h in HEADERS} == {h: flask.headers.get(h) for h in HEADERS}


@pytest.fixture
def pair(make_runtime) -> Pair:
    return Pair(make_runtime)


good = st.fixed_dictionaries({"userId": st.sampled_from(["u1", "u2"]), "event": st.sampled_from(["Order Completed", "Viewed"]),
                              "type": st.sampled_from(["track", "page"])},
                             optional={"messageId": st.sampled_from(["m-1", "m-2", ""]),
                                       "timestamp": st.sampled_from(["2026-12-01T12:00:00.000Z", "not a time"]),
                                       "properties": st.dictionaries(st.text(max_size=4), st.one_of(st.integers(-(2**63), 2**63 - 1), st.text(max_size=4)), max_size=3)})
bad = st.one_of(st.just({"event": "no user"}), st.just({"userId": 5, "event": "x"}), st.just([]), st.just("text"),
                st.dictionaries(st.text(max_size=3), st.none(), max_size=2))
events = st.one_of(good, good, good, bad)
bodies = st.one_of(
    events,
    st.fixed_dictionaries({"batch": st.lists(events, max_size=6)}, optional={"sentAt": st.just("2026-12-01T12:00:01Z"),
                                                                            "context": st.just({"ip": "127.0.0.1"})}),
    st.just({"batch": "not a list"}),
)


@st.composite
def requests(draw: Any) -> tuple[str, bytes, dict[str, str]]:
    path = draw(st.sampled_from(["/v1/track", "/v1/t", "/v1/identify", "/v1/batch", "/v1/import", "/v1/b"]))
    body = draw(bodies)
    key = draw(st.sampled_from(["header", "body", "none", "unknown", "not base64"]))
    if key == "body" and isinstance(body, dict):
        body = dict(body, writeKey=WRITE_KEY)
    headers = {"Content-Type": draw(st.sampled_from(["application/json", "text/plain"]))}
    headers.update({"header": {"Authorization": AUTH}, "unknown": {"Authorization": "Basic bm9wZTo="},
                    "not base64": {"Authorization": "Basic ###"}}.get(key, {}))
    data = draw(st.one_of(st.just(orjson.dumps(body)), st.just(b"{not json"), st.just(b"\xef\xbb\xbf" + orjson.dumps(body))))
    encoding = draw(st.sampled_from([None, None, "gzip", "GZIP", "br", "gzip-truncated"]))
    if encoding == "gzip-truncated":
        data, encoding = gzip.compress(data)[:-8], "gzip"
    elif encoding in ("gzip", "GZIP"):
        data = gzip.compress(data)
    if encoding:
        headers["Content-Encoding"] = encoding
    if draw(st.booleans()):
        headers["Origin"] = "https://shop.example"
    return path, data, headers


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(req=requests())
def test_every_post_is_answered_and_stored_as_the_flask_views_do(pair, req):
    lean, flask = pair.post(*req)
    same_answers(lean, flask)
    ours, theirs = pair.stored()
    assert ours == theirs


def test_a_batch_with_bad_events_stores_the_good_ones_and_names_the_bad_ones_alike(pair):
    body = orjson.dumps({"batch": [{"type": "track", "userId": "u1", "event": "ok", "messageId": "m1"},
                                   {"type": "track", "event": "no user"},
                                   {"type": "track", "userId": "u2", "event": "ok", "messageId": "m2"}]})
    lean, flask = pair.post("/v1/batch", body, {"Authorization": AUTH, "Content-Type": "application/json"})
    same_answers(lean, flask)
    assert lean.get_json()["accepted"] == 2 and [r["index"] for r in lean.get_json()["rejected"]] == [1]
    ours, theirs = pair.stored()
    assert ours == theirs and [e["userId"] for e in ours] == ["u1", "u2"]


def test_a_body_over_500_kb_is_413_alike(pair):
    body = orjson.dumps({"batch": [{"userId": "u1", "event": "e", "properties": {"x": "y" * 20_000}}] * 30})
    lean, flask = pair.post("/v1/batch", body, {"Authorization": AUTH})
    same_answers(lean, flask)
    assert lean.status_code == 413


def test_a_chunked_body_without_content_length_is_read_by_flask(pair):
    body = json.dumps({"userId": "u1", "event": "Viewed"}).encode()
    lean = pair.clients[0]
    # as gunicorn passes a chunked body: no Content-Length (the test client would add one), the input ended by the server
    r = lean.post("/v1/track", input_stream=io.BytesIO(body), headers={"Authorization": AUTH, "Transfer-Encoding": "chunked"},
                  environ_overrides={"CONTENT_LENGTH": None, "wsgi.input_terminated": True})
    assert (r.status_code, r.get_json()) == (200, {"success": True})
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert len(pair.stored()[0]) == 1


def test_a_body_cut_short_of_its_content_length_is_a_400_that_says_so(pair):
    environ = EnvironBuilder(path="/v1/track", method="POST", headers={"Authorization": AUTH}).get_environ()
    environ.update({"wsgi.input": io.BytesIO(b'{"userId": "u1"'), "CONTENT_LENGTH": "100"})
    body, status, _ = run_wsgi_app(pair.clients[0].application, environ)
    assert status == "400 BAD REQUEST"
    assert orjson.loads(b"".join(body)) == {"success": False, "errors": [
        {"path": "", "message": "the body ended after 15 of its 100 bytes (Content-Length)"}]}
    assert pair.stored()[0] == []


def test_other_methods_and_paths_still_reach_flask(pair):
    lean, flask = pair.clients
    for method, path in [("get", "/v1/track"), ("options", "/v1/track"), ("post", "/v1/track/"), ("post", "/v1/nothing")]:
        a, b = getattr(lean, method)(path, headers={"Authorization": AUTH}), getattr(flask, method)(path, headers={"Authorization": AUTH})
        same_answers(a, b)


def test_redis_unavailable_is_the_same_503_with_retry_after(tmp_path):
    from router.config import parse_config
    from router.redis_server import EmbeddedRedis, connect
    from router.runtime import Runtime
    from tests.helpers import base_config

    server = EmbeddedRedis(tmp_path)
    server.start()
    apps = [create_app(runtime=Runtime(parse_config(base_config(destinations=[HOOK])), connect(server.url))) for _ in range(2)]
    apps[1].wsgi_app = apps[1].wsgi_app.flask  # type: ignore[attr-defined]
    server.stop()
    headers = {"Authorization": AUTH, "Origin": "https://shop.example"}
    lean, flask = (a.test_client().post("/v1/track", json={"userId": "u", "event": "e"}, headers=headers) for a in apps)
    same_answers(lean, flask)
    assert (lean.status_code, lean.headers["Retry-After"]) == (503, "2")


def test_a_bug_while_answering_is_a_json_500_alike_and_logged(pair, monkeypatch, caplog):
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    for client in pair.clients:
        monkeypatch.setattr(client.application.extensions["eventrouter.intake"], "accept", broken)
    lean, flask = pair.post("/v1/track", orjson.dumps({"userId": "u", "event": "e"}), {"Authorization": AUTH})
    same_answers(lean, flask)
    assert lean.status_code == 500 and lean.get_json()["success"] is False
    assert "POST /v1/track failed" in caplog.text


def test_a_chunked_body_that_also_declares_a_content_length_is_read_whole_as_flask_reads_it(pair):
    """A server that passes both headers on (werkzeug's, under ``serve --dev``) hands the dechunked
    body and the Content-Length: Transfer-Encoding wins (RFC 9112 6.3), as in Flask's reading."""
    body = json.dumps({"userId": "u1", "event": "Viewed"}).encode()
    answers = []
    for client in pair.clients:
        environ = EnvironBuilder(path="/v1/track", method="POST", headers={"Authorization": AUTH}).get_environ()
        environ.update({"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True, "CONTENT_LENGTH": "5",
                        "HTTP_TRANSFER_ENCODING": "chunked"})
        out, status, _ = run_wsgi_app(client.application, environ)
        answers.append((status, orjson.loads(b"".join(out))))
    assert answers == [("200 OK", {"success": True})] * 2
    assert [len(events) for events in pair.stored()] == [1, 1]


def test_a_content_length_of_more_digits_than_int_reads_is_answered_as_flask_answers_it(pair):
    """Python's int() refuses over 4,300 digits (ValueError); werkzeug's server passes such a
    header on, and Flask reads the length as 0. No 5xx, and the same answer."""
    body = json.dumps({"userId": "u1", "event": "Viewed"}).encode()
    answers = []
    for client in pair.clients:
        environ = EnvironBuilder(path="/v1/track", method="POST", headers={"Authorization": AUTH}).get_environ()
        environ.update({"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": "0" * 5000 + str(len(body))})
        out, status, _ = run_wsgi_app(client.application, environ)
        answers.append((status, orjson.loads(b"".join(out))))
    assert answers[0] == answers[1]
    assert answers[0][0] == "400 BAD REQUEST"
