"""durability: replicated — ingest answers 200 only once a replica holds the events."""
from __future__ import annotations

import pytest

from router.errors import ConfigError
from tests.helpers import WRITE_KEY, webhook_destination


def test_replicated_ingest_answers_503_when_no_replica_acknowledges_and_keeps_the_events(make_runtime, client_for) -> None:
    # the test Redis has no replica: WAIT 1 answers 0 once the timeout passes
    rt = make_runtime(durability="replicated", replica_wait="20ms",
                      destinations=[webhook_destination("http://127.0.0.1:9/")])
    r = client_for(rt).post("/v1/track", json={"writeKey": WRITE_KEY, "userId": "u1", "event": "E", "messageId": "m-1"})
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "2"
    assert r.get_json() == {"success": False, "errors": [{"path": "", "message": "storage unavailable; retry later"}]}
    # on the master all the same, with its drain job: the client's retry is a duplicate, not a second copy
    assert rt.redis.llen(rt.queue.keys.buf("hook")) == 1
    assert len(rt.rq_queue("hook")) == 1


def test_async_durability_answers_at_once_without_a_replica(make_runtime, client_for) -> None:
    rt = make_runtime(destinations=[webhook_destination("http://127.0.0.1:9/")])
    r = client_for(rt).post("/v1/track", json={"writeKey": WRITE_KEY, "userId": "u1", "event": "E", "messageId": "m-1"})
    assert r.status_code == 200
    assert rt.config.durability == "async"


def test_durability_takes_only_async_or_replicated(make_runtime) -> None:
    with pytest.raises(ConfigError, match="durability"):
        make_runtime(durability="sync")
