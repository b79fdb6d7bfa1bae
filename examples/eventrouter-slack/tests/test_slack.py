"""The Slack plugin: the kit's contract suite, and the exact messages a fake Slack receives."""
from __future__ import annotations

import pytest

from destinations.kit import OutcomeStatus, Prepared, SkippedEvent
from destinations.kit.fakes import FakeServer, Reply, Request
from destinations.kit.testing import SAMPLES, ContractTests

from eventrouter_slack import SlackDestination

HOOK = "/services/T000/B000/XXXX"


class TestContract(ContractTests):
    plugin = SlackDestination
    settings = {"webhook_url": f"{ContractTests.UNREACHABLE}/services/T0/B0/{ContractTests.SECRET}"}


def fake_slack(req: Request) -> Reply:
    """Like Slack: the right webhook path and a JSON body with text, else 400 invalid_payload."""
    if req.path != HOOK:
        return Reply(404, "no_service")
    body = req.json()
    if not isinstance(body, dict) or not body.get("text"):
        return Reply(400, "invalid_payload")
    return Reply(200, "ok")


def build(url: str, **settings) -> SlackDestination:
    return SlackDestination(SlackDestination.settings_schema().load({"webhook_url": url + HOOK, **settings}))


def test_an_order_is_posted_as_a_message_with_its_fields():
    with FakeServer(fake_slack) as slack:
        dest = build(slack.base_url)
        [outcome] = dest.send([Prepared(SAMPLES["track"], dest.map(SAMPLES["track"]))])
    assert outcome.status is OutcomeStatus.DELIVERED
    [req] = slack.requests
    assert (req.method, req.path, req.headers["Content-Type"]) == ("POST", HOOK, "application/json")
    assert req.json() == {
        "text": "*Order Completed* by user-1",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Order Completed* by user-1"},
                    "fields": [{"type": "mrkdwn", "text": "*revenue*\n19.99"},
                               {"type": "mrkdwn", "text": "*currency*\nEUR"},
                               {"type": "mrkdwn", "text": "*order*\no-1"}]}],
    }


def test_an_identify_is_posted_with_the_users_email_and_name():
    dest = build("http://127.0.0.1:9")
    assert dest.map(SAMPLES["identify"])["blocks"][0]["fields"] == [
        {"type": "mrkdwn", "text": "*email*\nada@example.com"}, {"type": "mrkdwn", "text": "*name*\nAda"}]


def test_only_the_listed_events_post_when_events_is_set():
    dest = build("http://127.0.0.1:9", events=["Signed Up"])
    with pytest.raises(SkippedEvent, match="'Order Completed' is not in the slack destination's events"):
        dest.map(SAMPLES["track"])


@pytest.mark.parametrize("status,code", [(400, "invalid_payload"), (410, "channel_is_archived"),
                                         (403, "action_prohibited")])
def test_slacks_error_codes_reject_the_event_with_the_code(status, code):
    with FakeServer(lambda req: Reply(status, code)) as slack:
        dest = build(slack.base_url)
        [outcome] = dest.send([Prepared(SAMPLES["track"], dest.map(SAMPLES["track"]))])
    assert (outcome.status, outcome.http_status, outcome.reason) == (
        OutcomeStatus.REJECTED, status, f"Slack answered {status}: {code}")


def test_a_rate_limited_message_waits_for_retry_after():
    with FakeServer(lambda req: Reply(429, "rate_limited", headers={"Retry-After": "30"})) as slack:
        dest = build(slack.base_url)
        [outcome] = dest.send([Prepared(SAMPLES["track"], dest.map(SAMPLES["track"]))])
    assert (outcome.status, outcome.retry_after) == (OutcomeStatus.RETRY, 30.0)


def test_event_data_is_escaped_so_it_can_never_mention_a_channel_or_make_a_link():
    dest = build("http://127.0.0.1:9")
    event = {"type": "track", "event": "<!channel> hi & bye", "userId": "<@U123>",
             "properties": {"order_id": "<https://evil.example|click>", "revenue": 5}}
    text = "*&lt;!channel&gt; hi &amp; bye* by &lt;@U123&gt;"
    assert dest.map(event) == {
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text},
                    "fields": [{"type": "mrkdwn", "text": "*revenue*\n5"},
                               {"type": "mrkdwn", "text": "*order*\n&lt;https://evil.example|click&gt;"}]}],
    }
