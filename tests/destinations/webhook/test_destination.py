"""The signed webhook against a receiver on 127.0.0.1: bodies and X-Signature, per event and per batch."""
from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from marshmallow import ValidationError

from destinations.base import Prepared
from destinations.webhook import WebhookDestination
from tests.fakes.http import FakeServer

SECRET = "s3cret"


def events() -> list[dict[str, Any]]:
    return [
        {"type": "identify", "userId": "u1", "messageId": "m-1", "traits": {"name": "Zoë"}},
        {"type": "track", "userId": "u2", "messageId": "m-2", "event": "Signed Up", "properties": {}},
        {"type": "track", "userId": "u1", "messageId": "m-3", "event": "Order Completed", "properties": {"total": 9.5}},
    ]


def hmac_sha1(data: bytes) -> str:
    return hmac.new(SECRET.encode(), data, hashlib.sha1).hexdigest()


def send(receiver: FakeServer, **settings: Any) -> None:
    dest = WebhookDestination(WebhookDestination.settings_schema().load({"url": receiver.base_url + "/hook", "shared_secret": SECRET, **settings}))
    outcomes = dest.send([Prepared(e, dest.map(e)) for e in events()])
    assert [o.status.value for o in outcomes] == ["delivered"] * 3


def test_a_batch_is_signed_over_the_whole_body_by_default():
    with FakeServer() as receiver:
        send(receiver, batch=True)
    [request] = receiver.requests
    assert request.json() == events()
    assert request.headers["X-Signature"] == hmac_sha1(request.body)


def test_a_batch_can_be_signed_over_its_first_event_the_way_segment_signs_one():
    with FakeServer() as receiver:
        send(receiver, batch=True, signature="first_element")
    [request] = receiver.requests
    assert request.json() == events()
    # Segment: HMAC-SHA1 of JSON.stringify(payload[0]): compact, non-ASCII as is
    assert request.body.startswith(b'[{"type":"identify","userId":"u1","messageId":"m-1","traits":{"name":"Zo\xc3\xab"}},')
    assert request.headers["X-Signature"] == hmac_sha1(json.dumps(events()[0], separators=(",", ":"), ensure_ascii=False).encode())


@pytest.mark.parametrize("signature", ["whole_body", "first_element"])
def test_single_events_are_sent_in_order_each_signed_over_its_own_body(signature):
    with FakeServer() as receiver:
        send(receiver, signature=signature)
    assert [r.json() for r in receiver.requests] == events()
    assert [r.headers["X-Signature"] for r in receiver.requests] == [hmac_sha1(r.body) for r in receiver.requests]


@pytest.mark.parametrize("headers, error", [
    ({"X-Who": "Zdzisław"}, "X-Who: not fit for an HTTP header (a control character, or text outside ISO-8859-1)"),
    ({"X-Who": "a\r\nX-Evil: 1"}, "X-Who: not fit for an HTTP header (a control character, or text outside ISO-8859-1)"),
    ({"X Who": "a"}, "X Who: not an HTTP header name"),
])
def test_headers_that_could_never_be_sent_are_refused_in_the_config_not_at_every_send(headers, error):
    with pytest.raises(ValidationError) as caught:
        WebhookDestination.settings_schema().load({"url": "http://127.0.0.1:9/hook", "headers": headers})
    assert caught.value.messages == {"headers": [error]}


NUMBERS = {"type": "track", "userId": "u1", "messageId": "m-9", "event": "Paid",
           "properties": {"total": 10.0, "tiny": 1.5e-6, "big": 2.0 ** 60, "zero": -0.0, "ratio": 0.1, "huge": 1.5e300}}
#: what JSON.stringify(NUMBERS) writes (node 18): an integral float without ".0", no exponent from 1e-7 to 1e21
NUMBERS_JS = (b'{"type":"track","userId":"u1","messageId":"m-9","event":"Paid","properties":'
              b'{"total":10,"tiny":0.0000015,"big":1152921504606847000,"zero":0,"ratio":0.1,"huge":1.5e+300}}')


@pytest.mark.parametrize("batch, signature", [(False, "whole_body"), (True, "whole_body"), (True, "first_element")])
def test_numbers_are_written_as_json_stringify_writes_them_so_a_segment_style_receiver_can_re_sign_them(batch, signature):
    """Receivers written against Segment sign JSON.stringify(body) or JSON.stringify(body[0]):
    a 10.0 that went out as "10.0" fails their check though nothing was changed."""
    dest = WebhookDestination(WebhookDestination.settings_schema().load(
        {"url": "http://unused", "shared_secret": SECRET, "batch": batch, "signature": signature}))
    with FakeServer() as receiver:
        dest.client.http.base_url = receiver.base_url
        dest.client.url = receiver.base_url + "/hook"
        outcomes = dest.send([Prepared(e, dest.map(e)) for e in [NUMBERS, events()[0]]])
    assert [o.status.value for o in outcomes] == ["delivered"] * 2
    first = receiver.requests[0]
    if batch:
        assert first.body.startswith(b"[" + NUMBERS_JS + b",")
    else:
        assert first.body == NUMBERS_JS
    assert first.headers["X-Signature"] == hmac_sha1(NUMBERS_JS if signature == "first_element" or not batch else first.body)
