"""Property-based fuzzing of every HTTP endpoint, through the Flask test client on a real Redis.

Whatever the bytes, headers and encodings: never a 5xx, no exception escapes
the app, no event needs the per-event last resort (a logged "could not be
processed"), and in a mixed batch exactly the valid events are stored while
each invalid one is rejected with its index.

Bounded for CI (well under a minute); ``FUZZ_EXAMPLES=5000 pytest tests/router/test_fuzz.py``
runs a long campaign.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import logging
import math
import os
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.app import create_app
from tests.helpers import WRITE_KEY

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
#: the suite's default per-test timeout is for the CI size; a long campaign gets time in proportion
pytestmark = pytest.mark.timeout(120 + EXAMPLES)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
BASIC = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
ADMIN = "Bearer admin-secret-token"
HOOK = {"name": "hook", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/hook"}}
EVENT_PATHS = ["identify", "track", "page", "screen", "group", "alias", "i", "t", "p", "s", "g", "a"]
BATCH_PATHS = ["batch", "b", "import"]


class Faults(logging.Handler):
    """Records what the per-event last resort logs: each one is a cause left unfixed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def rt(make_runtime):
    return make_runtime(destinations=[HOOK])


@pytest.fixture
def app(rt):
    app = create_app(runtime=rt)
    app.config["PROPAGATE_EXCEPTIONS"] = True  # an exception fails the example instead of becoming a 500
    return app


@pytest.fixture
def faults():
    handler = Faults()
    logger = logging.getLogger("router")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


# values ------------------------------------------------------------------------------------
lone_surrogates = st.integers(0xD800, 0xDFFF).map(chr)
any_text = st.one_of(
    st.text(max_size=30),
    st.text(st.characters(exclude_categories=()), max_size=12),  # surrogates included
    st.builds(lambda a, s, b: a + s + b, st.text(max_size=5), lone_surrogates, st.text(max_size=5)),
)
extreme_numbers = st.one_of(
    st.integers(), st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e308, -1e308, 5e-324, 2**63, -(2**63) - 1, 2**64]),
)
date_strings = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(lambda d: d.isoformat()),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.sampled_from([
        "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "0001-01-01", "9999-12-31T23:59:59.999999Z",
        "2024-02-30T00:00:00Z", "2024-01-01T25:00:00Z", "", " ", "now", "1e999", "2024-01-01T00:00:00+99:00",
    ]),
    any_text,
)
scalars = st.one_of(st.none(), st.booleans(), extreme_numbers, any_text, date_strings)
json_values = st.recursive(
    scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(any_text, kids, max_size=4), max_leaves=20
)
FIELDS = ["type", "userId", "anonymousId", "event", "messageId", "timestamp", "originalTimestamp", "sentAt",
          "receivedAt", "context", "integrations", "traits", "properties", "name", "groupId", "previousId", "writeKey"]
wrong_typed_events = st.dictionaries(st.sampled_from(FIELDS) | any_text, json_values, max_size=8)
deep_values = st.integers(60, 3000).map(lambda n: json.loads("[" * min(n, 900) + "]" * min(n, 900)))
random_events = st.one_of(wrong_typed_events, json_values, deep_values)


# bodies ------------------------------------------------------------------------------------
def dump(value: Any) -> bytes:
    """JSON as a client might write it, NaN and lone surrogates included (as escapes)."""
    return json.dumps(value, allow_nan=True).encode("ascii")


def dump_raw_utf8(value: Any) -> bytes:
    """JSON with non-ASCII written out; lone surrogates become bytes that are not UTF-8."""
    return json.dumps(value, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    """(body bytes, extra headers): JSON in odd shapes and encodings, or no JSON at all."""
    shape = draw(st.sampled_from(["event", "batch", "array", "value", "bytes", "deep", "huge"]))
    if shape == "event":
        value: Any = draw(wrong_typed_events)
    elif shape == "batch":
        value = draw(st.dictionaries(st.sampled_from(["batch", "context", "integrations", "sentAt", "writeKey"]),
                                     st.lists(random_events, max_size=5) | json_values, max_size=4))
    elif shape == "array":
        value = draw(st.lists(random_events, max_size=5))
    elif shape == "value":
        value = draw(json_values)
    if shape == "bytes":
        raw = draw(st.binary(max_size=200))
    elif shape == "deep":
        n = draw(st.integers(50, 200_000))
        raw = (draw(st.sampled_from(["[", '{"a":'])) * n).encode()
    elif shape == "huge":
        raw = b'{"batch":[' + b",".join([b'{"type":"track","userId":"u","event":"' + b"x" * 1000 + b'"}'] * draw(
            st.integers(400, 700))) + b"]}"
    else:
        writer = draw(st.sampled_from([dump, dump_raw_utf8, lambda v: dump(v).decode().encode("utf-16")]))
        raw = writer(value)
    headers: dict[str, str] = {}
    encoding = draw(st.sampled_from(["", "", "gzip", "GZIP", " Gzip ", "x-gzip", "deflate", "br", "identity", "bad-gzip", "bom", "latin-1"]))
    if encoding == "bad-gzip":
        raw = gzip.compress(raw)[: draw(st.integers(0, 30))] + draw(st.binary(max_size=20))
        headers["Content-Encoding"] = "gzip"
    elif encoding == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif encoding == "latin-1":
        raw = raw.decode("utf-8", "surrogateescape").encode("latin-1", "replace")
    elif "gzip" in encoding.lower():
        raw = gzip.compress(raw)
        headers["Content-Encoding"] = encoding
    elif encoding:
        headers["Content-Encoding"] = encoding
    return raw, headers


header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60)
authorizations = st.one_of(
    st.just(BASIC), st.just(ADMIN), st.just(""), header_text, header_text.map(lambda t: "Basic " + t),
    header_text.map(lambda t: "Bearer " + t),
    st.binary(max_size=30).map(lambda b: "Basic " + base64.b64encode(b).decode()),
)


# endpoints ---------------------------------------------------------------------------------
def quoted(text: str) -> str:
    return urllib.parse.quote(text.encode("utf-8", "surrogatepass"), safe="")


@st.composite
def requests_(draw: st.DrawFn) -> dict[str, Any]:
    """One request to any public or admin endpoint, with random body and headers."""
    segment = quoted(draw(st.one_of(st.just("hook"), st.just(WRITE_KEY), any_text)) or "x")
    method, path = draw(st.sampled_from(
        [("POST", f"/v1/{p}") for p in EVENT_PATHS + BATCH_PATHS]
        + [("POST", "/v1/webhook"), ("OPTIONS", "/v1/track"), ("POST", "/v1/regulations"), ("GET", "/v1/regulations"),
           ("GET", "/v1/regulations/{}"), ("GET", "/v1/projects/{}/settings"), ("OPTIONS", "/v1/projects/{}/settings"),
           ("GET", "/v1/admin/destinations"), ("GET", "/v1/admin/dead-letters/{}"), ("GET", "/v1/admin/retrying/{}"),
           ("POST", "/v1/admin/dead-letters/{}/replay"), ("GET", "/v1/admin/rejected"), ("GET", "/healthz"),
           ("GET", "/dashboard"), ("GET", "/v1/{}"), ("PUT", "/v1/batch"),
           ("GET", "/metrics"), ("POST", "/v1/admin/test/{}"), ("GET", "/v1/admin/trace?messageId={}"),
           ("GET", "/v1/admin/trace?userId={}"), ("GET", "/v1/admin/overview?range={}"), ("GET", "/v1/admin/errors/{}"),
           ("GET", "/v1/admin/dead-letters/{}/search?reason={}&since_ms={}&until_ms={}"),
           ("POST", "/v1/admin/dead-letters/{}/discard"), ("GET", "/v1/admin/dead-letters/hook/{}"),
           ("GET", "/v1/admin/live"), ("GET", "/v1/admin/deliveries/{}"), ("POST", "/dashboard/login"),
           ("POST", "/dashboard/logout"),
           ("GET", "/dashboard/static/{}")]
    ))
    path = path.replace("{}", segment)
    if draw(st.booleans()):
        path += ("&" if "?" in path else "?") + "limit=" + quoted(draw(st.one_of(st.integers().map(str), any_text)))
    raw, headers = draw(bodies())
    headers["Authorization"] = draw(authorizations)
    if draw(st.booleans()):
        headers["Content-Type"] = draw(st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"])
                                       | header_text)
    if path == "/v1/webhook":
        signature = draw(st.one_of(st.just("good"), header_text))
        headers["X-Signature"] = hmac.new(b"whsec-test", raw, hashlib.sha1).hexdigest() if signature == "good" else signature
    if draw(st.integers(0, 9)) == 0:
        headers["X-Forwarded-Host"] = draw(header_text)
        headers["Origin"] = draw(header_text)
    return {"method": method, "path": path, "data": raw, "headers": headers}


@FUZZ
@given(req=requests_())
def test_no_request_to_any_endpoint_gets_a_5xx(app, faults, req):
    response = app.test_client().open(req["path"], method=req["method"], data=req["data"], headers=req["headers"])
    assert response.status_code < 500, (req["method"], req["path"], response.get_data()[:300])
    if req["path"].startswith("/v1/") and response.status_code >= 400:
        answer = response.get_json(silent=True)
        assert isinstance(answer, dict) and answer.get("errors"), response.get_data()[:300]
    assert not faults.records, [r.getMessage() for r in faults.records]


#: bodies that once got a 500 (or an invalid-JSON echo) from an endpoint the fuzzer reaches only by chance
KNOWN_BAD_BODIES = [
    b'{"type":"track","userId":"u1","event":"Paid","properties":{"a":"\\ud800"}}',
    b'{"type":"track","userId":"u1","event":"Paid","originalTimestamp":"0001-01-01T00:00:00Z","sentAt":"9999-12-31T00:00:00Z"}',
    b'{"type":"track","userId":"u1","event":"Paid","properties":' + b'{"a":' * 5000 + b"1" + b"}" * 5001,
    b'{"type":"track","userId":"u1","event":"Paid","properties":{"a":NaN}}',
]
JSON_POSTS = ["/v1/admin/test/hook", "/v1/admin/dead-letters/hook/replay", "/v1/admin/dead-letters/hook/discard",
              "/v1/regulations", "/v1/track", "/v1/batch"]


@pytest.mark.parametrize("path", JSON_POSTS)
@pytest.mark.parametrize("raw", KNOWN_BAD_BODIES, ids=["surrogate", "skew", "deep", "nan"])
def test_each_known_bad_body_gets_a_4xx_or_a_valid_json_answer_from_every_json_endpoint(app, faults, path, raw):
    headers = {"Authorization": BASIC if path.startswith("/v1/track") or path.startswith("/v1/batch") else ADMIN,
               "Content-Type": "application/json"}
    response = app.test_client().post(path, data=raw, headers=headers)
    assert response.status_code < 500, response.get_data()[:300]
    json.loads(response.get_data(), parse_constant=lambda c: pytest.fail(f"{c} in the answer"))
    assert not faults.records, [r.getMessage() for r in faults.records]


# a mixed batch -----------------------------------------------------------------------------
ids = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20).filter(lambda s: s.strip())
finite = st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(allow_nan=False, allow_infinity=False),
                   st.text(st.characters(exclude_categories=("Cs",)), max_size=20))
clean_values = st.recursive(finite, lambda kids: st.lists(kids, max_size=3)
                            | st.dictionaries(st.text(st.characters(exclude_categories=("Cs",)), max_size=8), kids, max_size=3),
                            max_leaves=10)
clean_dates = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                           timezones=st.just(timezone.utc) | st.just(timezone(timedelta(hours=-5)))).map(lambda d: d.isoformat())


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["identify", "track", "page", "screen", "group", "alias"]))
    event: dict[str, Any] = {"type": kind, "messageId": f"fz-{uuid.uuid4().hex}"}
    event["userId" if draw(st.booleans()) else "anonymousId"] = draw(ids | st.integers(0, 10**12))
    required = {"track": "event", "group": "groupId", "alias": "previousId"}
    if kind in required:
        event[required[kind]] = draw(ids)
    for name in draw(st.lists(st.sampled_from(["properties", "traits", "context"]), unique=True, max_size=3)):
        event[name] = draw(st.dictionaries(st.text(st.characters(exclude_categories=("Cs",)), max_size=8), clean_values, max_size=4))
    for name in draw(st.lists(st.sampled_from(["timestamp", "originalTimestamp", "sentAt"]), unique=True, max_size=3)):
        event[name] = draw(clean_dates)
    if draw(st.booleans()):
        event["writeKey"] = WRITE_KEY
    return event


@st.composite
def invalid_events(draw: st.DrawFn) -> Any:
    """An event the router must refuse, each for a reason ingest checks."""
    base = draw(valid_events())
    how = draw(st.sampled_from(["not-object", "no-id", "no-event", "bad-type", "non-finite", "surrogate", "bad-date",
                                "date-edge", "deep", "wrong-type", "too-big"]))
    if how == "not-object":
        return draw(scalars | st.lists(scalars, max_size=3))
    if how == "no-id":
        base.pop("userId", None)
        base.pop("anonymousId", None)
    elif how == "no-event":
        base.update(type="track", event="")
    elif how == "bad-type":
        base["type"] = draw(any_text.filter(lambda t: t not in ("identify", "track", "page", "screen", "group", "alias", "delete")))
    elif how == "non-finite":
        base.setdefault("properties", {})[draw(st.text(max_size=5))] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    elif how == "surrogate":
        base[draw(st.sampled_from(["event", "name", "properties", "userId"]))] = "a" + draw(lone_surrogates)
    elif how == "bad-date":
        base["timestamp"] = draw(st.sampled_from(["yesterday", "2024-13-01", "", "0001-01-01T00:00:00+01:00", 17]))
    elif how == "date-edge":
        base.update(timestamp=None, originalTimestamp="0001-01-01T00:00:00Z", sentAt="9999-12-31T00:00:00Z")
    elif how == "deep":
        base["properties"] = json.loads('{"a":' * 70 + "1" + "}" * 70)
    elif how == "wrong-type":
        base[draw(st.sampled_from(["properties", "traits", "context", "integrations"]))] = draw(
            st.one_of(any_text, st.integers(), st.lists(scalars, min_size=1, max_size=2)))
    elif how == "too-big":
        base["properties"] = {"blob": "x" * 33_000}
    return base


@FUZZ
@given(events=st.lists(st.tuples(st.booleans(), st.data()), min_size=1, max_size=12), encode=st.sampled_from(["plain", "gzip", "GZIP"]),
       path=st.sampled_from(BATCH_PATHS))
def test_a_mixed_batch_stores_exactly_the_valid_events(app, rt, faults, events, encode, path):
    batch, valid = [], []
    for i, (is_valid, data) in enumerate(events):
        batch.append(data.draw(valid_events() if is_valid else invalid_events()))
        if is_valid:
            valid.append(i)
    raw = dump(batch and {"batch": batch})
    headers = {"Authorization": BASIC, "Content-Type": "application/json"}
    if encode != "plain":
        raw = gzip.compress(raw)
        headers["Content-Encoding"] = encode
    key = rt.queue.keys.buf("hook")
    before = rt.redis.llen(key)
    response = app.test_client().post(f"/v1/{path}", data=raw, headers=headers)
    assert response.status_code == 200, response.get_data()[:500]
    answer = response.get_json()
    assert [r["index"] for r in answer["rejected"]] == [i for i in range(len(batch)) if i not in valid], answer["rejected"]
    assert all(r["errors"] and r["errors"][0]["message"] for r in answer["rejected"])
    assert answer["accepted"] == len(valid)
    assert rt.redis.llen(key) - before == len(valid)
    stored = [json.loads(x)["e"] for x in rt.redis.lrange(key, before, -1)]
    assert [e["messageId"] for e in stored] == [batch[i]["messageId"] for i in valid]
    assert not any("writeKey" in e for e in stored)
    assert not faults.records, [r.getMessage() for r in faults.records]
