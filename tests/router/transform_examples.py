"""Transforms the tests name in their configs (``tests.router.transform_examples:<name>``)."""
from __future__ import annotations

from typing import Any


def upper_plan(event: dict[str, Any]) -> dict[str, Any]:
    event.setdefault("properties", {})["plan"] = str(event["properties"].get("plan", "")).upper()
    return event


def split_products(event: dict[str, Any]) -> list[dict[str, Any]]:
    """One "Product Bought" event per product of an order."""
    return [{**event, "event": "Product Bought", "messageId": f"{event['messageId']}-{n}", "properties": product}
            for n, product in enumerate(event.get("properties", {}).get("products", []))]


def drop_tests(event: dict[str, Any]) -> dict[str, Any] | None:
    return None if event.get("properties", {}).get("test") else event


def explode(event: dict[str, Any]) -> dict[str, Any]:
    raise ValueError(f"no plan for {event['userId']}")


def not_an_event(event: dict[str, Any]) -> int:
    return 42


NOT_CALLABLE = "x"


def tag_with_a_set(event: dict[str, Any]) -> dict[str, Any]:
    """Garbage JSON can't carry: a set where a vendor needs a list."""
    if event.get("properties", {}).get("stamp"):
        event["properties"]["tags"] = {"vip"}
    return event


def tag_with_a_lone_surrogate(event: dict[str, Any]) -> dict[str, Any]:
    """Text UTF-8 can't carry: half of a UTF-16 pair."""
    if event.get("properties", {}).get("stamp"):
        event["properties"]["tag"] = "\ud800"
    return event


def erase_testers(event: dict[str, Any]) -> dict[str, Any]:
    """A delete made of a track: it would erase at the vendor without the router knowing."""
    if event.get("properties", {}).get("stamp"):
        return {"type": "delete", "userId": event["userId"]}
    return event


def quit_on_stamp(event: dict[str, Any]) -> dict[str, Any]:
    """A transform that calls sys.exit, as a command-line helper it reuses might."""
    if event.get("properties", {}).get("stamp"):
        raise SystemExit(3)
    return event
