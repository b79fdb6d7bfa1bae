"""The app as a whole: every operator answer passes through the runtime's redactor, whichever blueprint made it."""
from __future__ import annotations

import json

import pytest
import redis

from router.app import create_app
from router.config import parse_config
from router.runtime import Runtime
from tests.fakes.http import FakeServer, Reply
from tests.helpers import WRITE_KEY, base_config, webhook_destination, work

ADMIN = {"Authorization": "Bearer admin-secret-token"}
OTHER_KEY = "second-key-9876"
HEADER_TOKEN = "hdr-secret-value"
#: text an event carried before these secrets were configured: the admin token, a write key, a destination secret
LEAKS = ["admin-secret-token", OTHER_KEY, HEADER_TOKEN]
CARRIED = " ".join(LEAKS)


def stored_before_the_secrets_were_configured(make_runtime, url: str) -> str:
    """A dead letter, a rejection and traces holding ``LEAKS`` in clear, stored by a runtime that did not
    know them (the admin token differed); returns the namespace the configured runtime then reads."""
    old = make_runtime(admin_token="old-admin-token", destinations=[webhook_destination(url)])
    client = create_app(runtime=old).test_client()
    batch = [{"type": "track", "userId": "u1", "event": "Paid", "messageId": "m1", "properties": {"note": CARRIED}},
             {"type": "track", "userId": "u1", "messageId": "m2", "properties": {"note": CARRIED}}]  # no event: rejected
    auth = {"Authorization": "Basic dGVzdC13cml0ZS1rZXk6"}  # base64("test-write-key:")
    assert client.post("/v1/batch", json={"batch": batch}, headers=auth).get_json()["accepted"] == 1
    work(old)
    ((_, dead),) = old.queue.dead_letters("hook")
    assert CARRIED in json.dumps(dead)  # the premise: stored in clear
    return old.config.namespace


def configured(make_runtime, url: str, namespace: str):
    dest = webhook_destination(url, settings={"headers": {"Authorization": f"Bearer {HEADER_TOKEN}"}})
    sources = [{"name": "website", "write_keys": [WRITE_KEY, OTHER_KEY]}]
    return make_runtime(namespace=namespace, sources=sources, destinations=[dest])


def _rules() -> list[tuple[str, str]]:
    app = create_app(runtime=Runtime(parse_config(base_config()), redis.Redis()))  # never connects: only its routes
    out = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/v1/admin/", "/v1/regulations", "/metrics")):
            out += [(m, rule.rule) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return out


def fill(rule: str, entry_id: str) -> str:
    path = rule.replace("<name>", "hook").replace("<entry_id>", entry_id).replace("<reg_id>", "r1")
    if path == "/v1/admin/trace":
        return "/v1/admin/trace?messageId=m1"
    return path


@pytest.mark.parametrize("method,rule", _rules())
def test_no_operator_answer_shows_a_configured_secret_from_a_record_stored_before_it(method, rule, make_runtime):
    with FakeServer(lambda req: Reply(400, {"error": "bad", "you_sent": req.json()})) as hook:
        namespace = stored_before_the_secrets_were_configured(make_runtime, hook.base_url)
        rt = configured(make_runtime, hook.base_url, namespace)
        client = create_app(runtime=rt).test_client()
        ((entry_id, _),) = rt.queue.dead_letters("hook")
        path = fill(rule, entry_id)
        if method == "GET":
            r = client.get(path, headers=ADMIN)
        else:
            body = {"type": "track", "userId": "u1", "event": "Paid", "properties": {"note": CARRIED}}
            r = client.post(path, json=body, headers=ADMIN)
        text = r.get_data(as_text=True)
        assert r.status_code < 500, text
        assert [s for s in LEAKS if s in text] == []


def test_the_redacting_hook_sees_the_records_that_hold_the_secrets(make_runtime):
    """The parametrized test above is not vacuous: these answers held the secrets before redaction."""
    with FakeServer(lambda req: Reply(400, {"error": "bad", "you_sent": req.json()})) as hook:
        namespace = stored_before_the_secrets_were_configured(make_runtime, hook.base_url)
        rt = configured(make_runtime, hook.base_url, namespace)
        client = create_app(runtime=rt).test_client()
        ((entry_id, _),) = rt.queue.dead_letters("hook")
        for path in (f"/v1/admin/dead-letters/hook/{entry_id}", "/v1/admin/dead-letters/hook/search",
                     "/v1/admin/rejected"):
            text = client.get(path, headers=ADMIN).get_data(as_text=True)
            assert "[redacted]" in text, path
