"""send_calls: how one batch's vendor requests turn into one outcome per event."""
from __future__ import annotations

import pytest

from marshmallow import fields

from destinations.base import (BaseSettings, Destination, Outcome, OutcomeStatus, Prepared, StrictSchema, not_attempted,
                               secret_values, send_calls)
from router.errors import RejectedEvent, RetryableError, Throttled

OK = Outcome.delivered(200)


def raise_(exc):
    def call():
        raise exc
    return call


def statuses(outcomes):
    return [(o.status.value, o.counts_as_attempt) for o in outcomes]


def test_a_refused_request_settles_only_its_own_events():
    outcomes = send_calls(3, [([0], raise_(RejectedEvent("bad", status=400))), ([1, 2], lambda: OK)])
    assert statuses(outcomes) == [("rejected", True), ("delivered", True), ("delivered", True)]


def test_a_request_that_failed_as_a_whole_holds_back_the_rest_without_attempts():
    sent = []
    outcomes = send_calls(3, [([0], raise_(RetryableError("down", status=503, retry_after=7))),
                              ([1], lambda: sent.append(1)), ([2], lambda: sent.append(2))])
    assert sent == []
    assert statuses(outcomes) == [("retry", True), ("retry", False), ("retry", False)]
    assert (outcomes[1].reason, outcomes[1].retry_after) == ("not attempted: down", 7)


def test_our_rate_limit_holds_back_the_rest_too():
    outcomes = send_calls(2, [([0], raise_(Throttled("rate limit reached", retry_after=0.6))), ([1], lambda: OK)])
    assert statuses(outcomes) == [("retry", False), ("retry", False)]


def test_a_retry_of_one_record_inside_a_request_does_not_stop_the_batch():
    retry_one = Outcome(OutcomeStatus.RETRY, "SERVER_ERROR for this record")
    outcomes = send_calls(3, [([0, 1], lambda: [OK, retry_one]), ([2], lambda: OK)])
    assert statuses(outcomes) == [("delivered", True), ("retry", True), ("delivered", True)]


def test_a_call_that_held_items_back_stops_the_batch():
    failed = Outcome(OutcomeStatus.RETRY, "busy")
    outcomes = send_calls(3, [([0, 1], lambda: [failed, not_attempted(failed)]), ([2], lambda: OK)])
    assert statuses(outcomes) == [("retry", True), ("retry", False), ("retry", False)]
    assert outcomes[2].reason == "not attempted: busy"


def test_a_send_one_that_returns_the_vendors_answer_instead_of_an_outcome_is_a_type_error_saying_so():
    class Answers(Destination):
        def send_one(self, item):
            return {"ok": True}  # the vendor's JSON, not an Outcome

    with pytest.raises(TypeError) as failed:
        Answers({}).send([Prepared({"type": "track"}, {"event": "x"})])
    assert str(failed.value) == ("a request's call returned dict: send_one (or a send_calls call) returns an Outcome, "
                                 "a list of one Outcome per item it carries, or None for delivered")


class _Auth(StrictSchema):
    user = fields.String(metadata={"description": "login"})
    password = fields.String(metadata={"secret": True, "description": "password"})


class _Rotating(BaseSettings):
    api_keys = fields.List(fields.String(), metadata={"secret": True, "description": "current and next key"})
    auth = fields.Nested(_Auth, metadata={"description": "basic auth"})
    accounts = fields.List(fields.Nested(_Auth), metadata={"description": "one login per account"})


def test_the_secrets_of_a_plugin_are_each_key_of_a_secret_list_and_each_secret_inside_nested_settings():
    settings = _Rotating().load({"api_keys": ["key-now", "key-next"], "auth": {"user": "ada", "password": "pw-1"},
                                 "accounts": [{"user": "a", "password": "pw-2"}, {"user": "b", "password": "pw-3"}]})
    assert secret_values(_Rotating(), settings) == ["key-now", "key-next", "pw-1", "pw-2", "pw-3"]
