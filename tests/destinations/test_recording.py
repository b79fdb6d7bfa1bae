"""What HttpClient records of each exchange a vendor call makes (destinations/recording.py)."""
from __future__ import annotations

import pytest

from destinations import recording
from destinations.base import Outcome, OutcomeStatus, send_calls
from destinations.http import HttpClient
from router.errors import RejectedEvent, RetryableError
from tests.fakes.http import FakeServer, Reply


def test_each_call_s_exchanges_go_to_the_outcomes_of_exactly_the_items_it_carried():
    with FakeServer(lambda req: Reply(200, "ok", headers={"X-Request-Id": req.path})) as vendor:
        http = HttpClient(vendor.base_url, headers={"X-Api-Key": "k-123"})
        outcomes = send_calls(3, [([0, 2], lambda: http.post("/a", data=b"one") and None),
                                  ([1], lambda: http.post("/b", data=b"two") and None)])
    assert [o.status for o in outcomes] == [OutcomeStatus.DELIVERED] * 3
    assert outcomes[0].exchanges is outcomes[2].exchanges
    (a,) = outcomes[0].exchanges
    (b,) = outcomes[1].exchanges
    assert (a["method"], a["url"], a["body"], a["headers"]["X-Api-Key"]) == ("POST", vendor.base_url + "/a", "one", "k-123")
    assert a["response"] == {"status": 200, "headers": {**a["response"]["headers"], "X-Request-Id": "/a"}, "body": "ok"}
    assert b["url"] == vendor.base_url + "/b" and b["response"]["headers"]["X-Request-Id"] == "/b"


def test_a_refused_or_failed_request_is_recorded_with_the_outcome_it_caused():
    def refuse():
        response = http.post("/x", json={"a": 1})
        raise RejectedEvent(f"refused {response.status_code}")

    with FakeServer(lambda req: Reply(503, "down") if req.path == "/down" else Reply(422, "no")) as vendor:
        http = HttpClient(vendor.base_url)
        refused, held = send_calls(2, [([0], refuse), ([1], lambda: http.post("/down"))])
    assert refused.status is OutcomeStatus.REJECTED and refused.exchanges[0]["response"]["body"] == "no"
    assert refused.exchanges[0]["body"] == '{"a": 1}'
    assert held.status is OutcomeStatus.RETRY and held.exchanges[0]["response"]["status"] == 503
    http = HttpClient("http://127.0.0.1:9")  # nothing listens on the discard port
    with recording.capture() as exchanges, pytest.raises(RetryableError):
        http.post("/gone", data=b"x")
    assert exchanges == [{"method": "POST", "url": "http://127.0.0.1:9/gone", "headers": exchanges[0]["headers"],
                          "body": "x", "error": "ConnectionError"}]


def test_bodies_are_cut_at_4_kb_saying_how_much_more_there_was():
    big = "é" * 3000  # 6000 bytes
    with FakeServer(lambda req: Reply(400, "x" * 5000)) as vendor:
        http = HttpClient(vendor.base_url)
        with recording.capture() as exchanges:
            http.post("/", data=big.encode())
    (x,) = exchanges
    assert x["body"] == "é" * 2048 + "... [1904 more bytes]"
    assert x["response"]["body"] == "x" * 4096 + "... [904 more bytes]"


def test_nothing_is_recorded_outside_a_capture_and_a_call_keeps_its_last_exchanges():
    with FakeServer() as vendor:
        http = HttpClient(vendor.base_url)
        http.post("/outside")
        outcome = send_calls(1, [([0], lambda: [http.post(f"/{i}") for i in range(6)] and Outcome.delivered())])[0]
    assert [x["url"].rsplit("/", 1)[1] for x in outcome.exchanges] == ["2", "3", "4", "5"]
