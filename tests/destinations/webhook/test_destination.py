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
