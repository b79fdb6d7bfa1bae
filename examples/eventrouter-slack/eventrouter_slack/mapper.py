"""Segment event -> Slack message: field tables pick what is shown; one function lays it out. Pure."""
from __future__ import annotations

from typing import Any

from destinations.kit import SkippedEvent, pick

#: who did it: the first of these the event has
WHO = ("userId", "traits.email", "context.traits.email", "anonymousId")
#: what a message shows, as "label <- first non-empty of these paths"
TRACK = {
    "user": WHO,
    "revenue": ("properties.revenue", "properties.total", "properties.value"),
    "currency": ("properties.currency",),
    "order": ("properties.order_id", "properties.orderId"),
}
IDENTIFY = {
    "user": WHO,
    "email": ("traits.email", "context.traits.email"),
    "name": ("traits.name", "traits.firstName", "traits.first_name"),
    "plan": ("traits.plan",),
}
#: Block Kit allows at most 10 fields in a section
MAX_FIELDS = 10


def escape(value: Any) -> str:
    """Slack mrkdwn control characters as entities, as Slack's docs require: event data must never
    become a link or a mention (an event named ``<!channel>`` would ping the channel)."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def map_event(event: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """The JSON body for the webhook: ``text`` (notifications, fallback) and one section block."""
    if event["type"] == "track":
        name = event.get("event") or "(unnamed event)"
        if settings["events"] and name not in settings["events"]:
            raise SkippedEvent(f"track {name!r} is not in the slack destination's events")
        shown = pick(event, TRACK)
        title = f"*{escape(name)}*"
    else:
        shown = pick(event, IDENTIFY)
        title = "*New or updated user*"
    who = escape(shown.pop("user", "someone"))
    text = f"{title} by {who}"
    fields = [{"type": "mrkdwn", "text": f"*{label}*\n{escape(value)}"} for label, value in shown.items()][:MAX_FIELDS]
    section: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if fields:
        section["fields"] = fields
    return {"text": text, "blocks": [section]}
