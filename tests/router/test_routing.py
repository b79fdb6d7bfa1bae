"""Which destinations get an event."""
from __future__ import annotations

import pytest

from router.config import parse_config
from router.routing import Router, renamed


def router(*dests):
    return Router(parse_config({"destinations": list(dests)}).destinations)


def hook(name, **extra):
    return {"name": name, "type": "webhook", "settings": {"url": "http://127.0.0.1:9/"}, **extra}


def names(r, event):
    return [d.name for d in r.destinations_for(event)]


TRACK = {"type": "track", "event": "Order Completed", "userId": "u"}


@pytest.mark.parametrize("integrations,expected", [
    ({}, ["a", "b"]),
    ({"All": False}, []),
    ({"All": False, "a": True}, ["a"]),
    ({"b": False}, ["a"]),
    ({"All": False, "Webhooks": True}, ["a", "b"]),   # the plugin's display name
    ({"All": False, "Webhook": {"option": 1}}, ["a", "b"]),   # an alias with options counts as on
])
def test_the_integrations_object_follows_segments_rules(integrations, expected):
    assert names(router(hook("a"), hook("b")), {**TRACK, "integrations": integrations}) == expected


def test_subscriptions_and_event_filters_choose_destinations():
    r = router(
        hook("ids", subscribe=["identify"]),
        hook("orders", events={"only": ["Order Completed"]}),
        hook("not-orders", events={"except": ["Order Completed"]}),
        hook("off", enabled=False),
    )
    assert names(r, TRACK) == ["orders"]
    assert names(r, {**TRACK, "event": "Viewed"}) == ["not-orders"]
    assert names(r, {"type": "identify", "userId": "u"}) == ["ids", "orders", "not-orders"]


def test_rename_changes_only_the_copy_a_destination_sees():
    event = dict(TRACK)
    out = renamed(event, {"Order Completed": "conversion"})
    assert out["event"] == "conversion" and event["event"] == "Order Completed"
    assert renamed({"type": "identify"}, {"Order Completed": "x"}) == {"type": "identify"}


@pytest.mark.parametrize("integrations", [{"All": False}, {"a": False, "Webhooks": False}, {"All": False, "b": True}])
def test_a_gdpr_delete_reaches_every_destination_that_can_delete_whatever_its_integrations_say(integrations):
    r = router(hook("a", subscribe=["track"]), hook("b"))
    delete = {"type": "delete", "userId": "u", "messageId": "delete-1", "integrations": integrations}
    assert names(r, delete) == ["a", "b"]
