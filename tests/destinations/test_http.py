"""The shared HTTP client's reading of vendor answers."""
from __future__ import annotations

import email.utils
import socket
import time

import pytest

from destinations import recording
from destinations.errors import RejectedEvent, RetryableError
from destinations.http import MAX_RETRY_AFTER, HttpClient, parse_retry_after
from tests.fakes.http import FakeServer, Reply
from tests.fakes.raw import RawVendor


@pytest.mark.parametrize("value, seconds", [
    ("30", 30.0), (" 2.5 ", 2.5), ("0", 0.0), ("-30", 0.0), ("-inf", 0.0),
    ("inf", MAX_RETRY_AFTER), ("1e308", MAX_RETRY_AFTER), ("1e999", MAX_RETRY_AFTER),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER),
    ("nan", None), ("soon", None), ("", None), (None, None),
])
def test_retry_after_is_a_finite_wait_between_zero_and_the_maximum(value, seconds):
    assert parse_retry_after(value) == seconds


def test_retry_after_as_an_http_date_is_the_seconds_until_then():
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    assert 118 <= parse_retry_after(when) <= 120


@pytest.mark.parametrize("path, headers, error", [
    ("/x", {"X-Token": "secret\r\nX-Evil: 1"}, "InvalidHeader"),
    ("http://[::1/x", {}, "InvalidURL"),
    ("/x", {"X-Token": "secret-Zdzisław"}, "UnicodeEncodeError"),  # a header is ISO-8859-1 on the wire
])
def test_a_request_that_can_never_be_sent_is_rejected_not_retried(path, headers, error):
    with FakeServer() as vendor:
        client = HttpClient(vendor.base_url, vendor="Acme")
        with pytest.raises(RejectedEvent) as caught:
            client.request("GET", path, headers=headers)
        assert str(caught.value) == f"the request to Acme cannot be sent ({error})"
        assert "secret" not in str(caught.value)
        assert vendor.requests == []


def test_a_redirect_is_answered_to_the_client_not_followed():
    """Followed, a POST would become a GET without its body at the new place (the event lost, and
    counted delivered by a 200 there), and the vendor's token headers would go along."""
    with FakeServer() as elsewhere, FakeServer(lambda req: Reply(301, "", {"Location": elsewhere.base_url + "/in"})) as vendor:
        client = HttpClient(vendor.base_url, vendor="Acme", headers={"X-Api-Key": "k-1"})
        response = client.post("/events", json={"event": "A"})
        assert response.status_code == 301
        assert elsewhere.requests == []


def test_a_webhook_whose_url_redirects_dead_letters_the_event_with_the_status(make_runtime):
    from tests.helpers import webhook_destination, work

    with FakeServer() as elsewhere, FakeServer(lambda req: Reply(308, "", {"Location": elsewhere.base_url + "/in"})) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        rt.enqueue("hook", [{"type": "track", "userId": "u1", "event": "A", "messageId": "m-1"}])
        work(rt)
        ((_, dead),) = rt.queue.dead_letters("hook")
        assert dead["status"] == 308 and "308" in dead["reason"]
        assert elsewhere.requests == []


def answer_then_trickle(conn) -> None:
    """Status line and headers at once, then the body one byte at a time for up to 10 s."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
    for _ in range(100):
        conn.sendall(b" ")
        time.sleep(0.1)


def answer_2_gb(conn) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2000000000\r\n\r\n")
    for _ in range(1000):  # 64 MB is enough to show it; 2 GB would take the test machine's memory
        conn.sendall(b"x" * 65536)


def answer_endless_chunks(conn) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(1000):
        conn.sendall(b"10000\r\n" + b"y" * 65536 + b"\r\n")


@pytest.mark.parametrize("behave, reason, status, start", [
    (answer_then_trickle, "Acme did not finish its answer within 1 s", None, " "),
    (answer_2_gb, "Acme's answer is larger than 10 MB", 200, "x" * 100),
    (answer_endless_chunks, "Acme's answer is larger than 10 MB", 200, "y" * 100),
], ids=["trickled", "2 GB", "endless chunked"])
def test_an_answer_that_never_ends_is_cut_off_and_retried_with_what_had_arrived(behave, reason, status, start):
    """The read timeout bounds each socket read, not the answer: a byte every 0.1 s, or gigabytes,
    would hold the worker and its memory for ever."""
    with RawVendor(behave) as vendor:
        client = HttpClient(vendor.base_url, vendor="Acme", timeout=1)
        with recording.capture() as exchanges, pytest.raises(RetryableError) as caught:
            client.post("/events", data=b'{"event":"A"}')
    assert str(caught.value) == reason and caught.value.status == status
    assert caught.value.response.startswith(start)
    [exchange] = exchanges
    assert exchange["error"] == reason and exchange["response"]["status"] == 200
    assert exchange["response"]["body"].startswith(start)


def test_an_answer_cut_off_mid_body_is_a_retry_and_the_next_request_gets_a_fresh_connection():
    answers = iter([b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])

    def behave(conn):
        conn.sendall(next(answers))
        conn.shutdown(socket.SHUT_WR)

    with RawVendor(behave) as vendor:
        client = HttpClient(vendor.base_url, vendor="Acme", timeout=1)
        with pytest.raises(RetryableError) as caught:
            client.post("/events", data=b"{}")
        assert str(caught.value) == "Acme stopped in the middle of its answer (IncompleteRead)"
        assert client.post("/events", data=b"{}").content == b"ok"
        assert vendor.connections == 2


def test_kept_alive_connections_are_reused_for_answers_read_to_the_end():
    def behave(conn):
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"ok":true}')

    with RawVendor(behave) as vendor:
        client = HttpClient(vendor.base_url, vendor="Acme")
        assert [client.post("/events", data=b"{}").json() for _ in range(3)] == [{"ok": True}] * 3
        assert vendor.connections == 1 and len(vendor.requests) == 3


def test_a_kept_alive_connection_the_vendor_closed_meanwhile_is_not_a_failure():
    """A vendor's idle timeout can close a pooled connection just as the next request goes out on
    it: the request is sent again once on a fresh connection, not retried later as a failure (which
    also opened the circuit breaker)."""
    served = []

    def behave(conn):
        served.append(conn)
        if conn is served[0] and served.count(conn) == 2:  # the first connection's second request: closed unanswered
            conn.shutdown(socket.SHUT_RDWR)
            return
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"ok":true}')

    with RawVendor(behave) as vendor:
        client = HttpClient(vendor.base_url, vendor="Acme")
        with recording.capture() as exchanges:
            assert [client.post("/events", data=b'{"n":%d}' % i).json() for i in range(3)] == [{"ok": True}] * 3
        assert vendor.connections == 2
        assert [r.split(b"\r\n\r\n")[1] for r in vendor.requests] == [b'{"n":0}', b'{"n":1}', b'{"n":1}', b'{"n":2}']
        assert [e.get("error") for e in exchanges] == [None, "ConnectionError", None, None]


def test_a_vendor_that_closes_every_connection_unanswered_is_a_retry_after_one_fresh_try():
    def behave(conn):
        conn.shutdown(socket.SHUT_RDWR)

    with RawVendor(behave) as vendor:
        client = HttpClient(vendor.base_url, vendor="Acme")
        with pytest.raises(RetryableError) as caught:
            client.post("/events", data=b"{}")
        assert str(caught.value) == "Acme closed the connection without answering (RemoteDisconnected)"
        assert vendor.connections == 2


@pytest.mark.parametrize("answer, reason", [
    (b"", "Acme closed the connection without answering (RemoteDisconnected)"),
    (b"HTTP/1.1 200 OK\r\n" + b"X-A: a\r\n" * 101 + b"\r\n", "Acme's answer is not valid HTTP (got more than 100 headers)"),
    (b"HTTP/1.1 200 OK\r\nX-A: " + b"a" * 70000 + b"\r\n\r\n",
     "Acme's answer is not valid HTTP (got more than 65536 bytes when reading header line)"),
    (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "Acme's answer is not valid HTTP (BadStatusLine)"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf", "Acme stopped in the middle of its answer (IncompleteRead)"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nabcde",
     "Acme's answer is not valid HTTP (Content-Length contained multiple unmatching values (2, 5))"),
], ids=["closed", "101 headers", "a 70 KB header", "not HTTP", "closed mid-body", "two lengths"])
def test_a_vendor_that_connects_but_answers_no_http_is_a_retry_that_says_what_it_did(answer, reason):
    """"could not connect" sent the operator to look at the network while the vendor did answer."""
    def behave(conn):
        conn.sendall(answer)
        conn.shutdown(socket.SHUT_RDWR)

    with RawVendor(behave) as vendor:
        client = HttpClient(vendor.base_url, vendor="Acme", timeout=1)
        with pytest.raises(RetryableError) as caught:
            client.post("/events", data=b"{}")
    assert str(caught.value) == reason


def test_a_vendor_that_refuses_the_connection_is_one_that_could_not_be_connected_to():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    client = HttpClient(f"http://127.0.0.1:{port}", vendor="Acme", timeout=1)
    with pytest.raises(RetryableError) as caught:
        client.post("/events", data=b"{}")
    assert str(caught.value) == "could not connect to Acme (ConnectionError)"


def test_a_vendor_that_trickles_its_status_line_and_headers_times_out_like_one_that_is_silent():
    """Each byte inside the read timeout, the headers take 8 s here, and could take days with the
    100 headers of 64 KB each that http.client allows."""
    def behave(conn):
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 40 + b"\r\nContent-Length: 2\r\n\r\nok":
            conn.sendall(bytes([byte]))
            time.sleep(0.1)

    with RawVendor(behave) as vendor:
        client = HttpClient(vendor.base_url, vendor="Acme", timeout=1)
        with pytest.raises(RetryableError) as caught:
            client.post("/events", data=b"{}")
    assert str(caught.value) == "Acme did not answer in time (ReadTimeout)" and caught.value.status is None


def test_a_chunked_answer_whose_chunk_line_trickles_is_cut_off_like_a_trickled_body():
    """A chunk-size line may be 64 KB long (extensions), read in one go before any body byte."""
    def behave(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n5;")
        for _ in range(60):
            conn.sendall(b"a")
            time.sleep(0.1)
        conn.sendall(b"\r\nhello\r\n0\r\n\r\n")

    with RawVendor(behave) as vendor:
        client = HttpClient(vendor.base_url, vendor="Acme", timeout=1)
        with pytest.raises(RetryableError) as caught:
            client.post("/events", data=b"{}")
    assert str(caught.value) == "Acme did not finish its answer within 1 s"
    assert (caught.value.status, caught.value.response) == (None, "ok")
