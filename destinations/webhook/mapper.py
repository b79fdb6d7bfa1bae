"""The webhook forwards the Segment event itself: mapping is the identity."""
from typing import Any


def map_event(event: dict[str, Any]) -> dict[str, Any]:
    return event
