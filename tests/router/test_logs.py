"""Log lines an operator acts on: dead letters, give-ups, a destination failing and recovering."""
from __future__ import annotations

import json
import logging
import time

import pytest

from router.config import parse_config
from router.errors import ConfigError
from router.logs import JsonFormatter, configure
from tests.fakes.http import FakeServer, Reply
from tests.helpers import WRITE_KEY, base_config, webhook_destination, work


def track(mid: str) -> dict:
    return {"type": "track", "userId": "u", "event": "Order Completed", "messageId": mid}


def delivery_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "router.delivery" and r.levelno >= logging.INFO and hasattr(r, "destination")]


def test_a_dead_letter_is_logged_once_with_its_reason_and_never_a_secret(make_runtime, client_for, caplog):
    caplog.set_level(logging.INFO, logger="router.delivery")
    with FakeServer(lambda req: Reply(400, {"error": "bad field"})) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        client_for(rt).post("/v1/track", json={"writeKey": WRITE_KEY, **track("m-hook-secret-1234")})
        work(rt)
    dead = [r for r in delivery_lines(caplog) if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in dead] == [
        "dead letter at hook: webhook answered 400 (status 400, messageId m-[redacted], 1 attempts)"]
    assert (dead[0].event, dead[0].destination, dead[0].status, dead[0].messageId) == ("dead_letter", "hook", 400, "m-[redacted]")
    assert "hook-secret-1234" not in caplog.text


def test_giving_up_after_the_retry_window_is_logged_as_such(make_runtime, client_for, caplog):
    caplog.set_level(logging.INFO, logger="router.delivery")
    with FakeServer(lambda req: Reply(503, "down")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url, retry_window="0s")])
        client_for(rt).post("/v1/track", json={"writeKey": WRITE_KEY, **track("m1")})
        work(rt)
    warnings = [r.getMessage() for r in delivery_lines(caplog) if r.levelno == logging.WARNING]
    assert warnings == ["gave up retrying at hook: gave up after 1 attempts over 0s: webhook answered 503 "
                        "(status 503, messageId m1, 1 attempts)"]


def test_a_destination_starting_and_stopping_to_fail_is_logged_once_each(make_runtime, client_for, caplog):
    caplog.set_level(logging.INFO, logger="router.delivery")
    state = {"up": False}
    with FakeServer(lambda req: Reply(200, {}) if state["up"] else Reply(503, "down")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)], delivery={"retry_base": "10ms", "retry_max": "10ms"})
        client = client_for(rt)
        client.post("/v1/track", json={"writeKey": WRITE_KEY, **track("m1")})
        work(rt)
        client.post("/v1/track", json={"writeKey": WRITE_KEY, **track("m2")})
        time.sleep(0.05)
        work(rt)  # still failing: no second line
        assert len(hook.requests) >= 3
        state["up"] = True
        deadline = time.monotonic() + 10
        while rt.queue.depth("hook").get("delivered", 0) < 2 and time.monotonic() < deadline:
            work(rt)
        work(rt)
    info = [r for r in delivery_lines(caplog) if r.levelno == logging.INFO]
    assert [r.event for r in info] == ["destination_failing", "destination_recovered"]
    assert info[0].getMessage() == "hook started failing: webhook answered 503 (status 503)"
    assert info[1].getMessage().startswith("hook delivers again after failing for ")
    assert info[1].getMessage().endswith("s (last failure: webhook answered 503)")


def test_a_mapping_rejection_does_not_mark_the_destination_failing(make_runtime, client_for, caplog):
    caplog.set_level(logging.INFO, logger="router.delivery")
    with FakeServer() as hook:
        rt = make_runtime(destinations=[{"name": "ext", "type": "extole", "settings": {
            "api_key": "tok-secret-9999", "base_url": hook.base_url}}])
        client_for(rt).post("/v1/track", json={"writeKey": WRITE_KEY, "type": "track", "anonymousId": "a",
                                               "event": "Order Completed", "messageId": "m1"})
        work(rt)
    lines = delivery_lines(caplog)
    assert [r.event for r in lines] == ["dead_letter"]
    assert lines[0].status is None and not rt.redis.exists(f"{rt.config.namespace}:failing:ext")


def test_json_log_lines_carry_the_fields_for_log_shippers():
    record = logging.LogRecord("router.delivery", logging.WARNING, __file__, 1, "dead letter at %s", ("hook",), None)
    record.destination, record.status = "hook", 422
    line = json.loads(JsonFormatter().format(record))
    assert set(line) == {"time", "level", "logger", "message", "destination", "status"}
    assert (line["level"], line["logger"], line["message"], line["destination"], line["status"]) == (
        "WARNING", "router.delivery", "dead letter at hook", "hook", 422)
    assert line["time"].endswith("Z")


def test_log_format_is_text_or_json():
    assert parse_config(base_config()).log_format == "text"
    assert parse_config(base_config(log_format="json")).log_format == "json"
    with pytest.raises(ConfigError, match="log_format"):
        parse_config(base_config(log_format="xml"))


def test_configure_switches_the_root_handlers_to_json_lines():
    root = logging.getLogger()
    handler = logging.StreamHandler()
    saved = [(h, h.formatter) for h in root.handlers]
    root.addHandler(handler)
    try:
        configure("json")
        assert isinstance(handler.formatter, JsonFormatter)
        configure("text")
        assert not isinstance(handler.formatter, JsonFormatter)
    finally:
        root.removeHandler(handler)
        for h, f in saved:
            h.setFormatter(f)


def test_text_log_lines_carry_utc_times_as_json_lines_do_whatever_the_hosts_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # a host east of UTC
    time.tzset()
    root = logging.getLogger()
    handler = logging.StreamHandler()
    saved = [(h, h.formatter) for h in root.handlers]
    root.addHandler(handler)
    try:
        configure("text")
        record = logging.LogRecord("router.delivery", logging.WARNING, __file__, 1, "dead letter at %s", ("hook",), None)
        record.created, record.msecs = 1764583200.123, 123.0  # 2025-12-01T10:00:00.123Z
        text = handler.formatter.format(record)
        json_time = json.loads(JsonFormatter().format(record))["time"]
    finally:
        root.removeHandler(handler)
        for h, f in saved:
            h.setFormatter(f)
        monkeypatch.undo()
        time.tzset()
    assert json_time == "2025-12-01T10:00:00.123Z"
    assert text == "2025-12-01T10:00:00.123Z WARNING router.delivery: dead letter at hook"
