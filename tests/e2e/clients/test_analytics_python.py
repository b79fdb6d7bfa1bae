"""segment-analytics-python, unchanged, pointed at the router with ``host=``."""
from __future__ import annotations

from copy import deepcopy

import pytest

from tests.e2e.clients.harness import (CONTEXT, EVENT, PAGE_NAME, PAGE_PROPERTIES, PROPERTIES, TRAITS, WRITE_KEY,
                                       assert_standard_events, delivered)

segment = pytest.importorskip("segment.analytics", reason="segment-analytics-python is not installed: pip install -e '.[test]'")

pytestmark = pytest.mark.e2e


def send_standard_events(client, user_id: str) -> dict[str, str]:
    """identify, track and page; the messageIds the library generated."""
    ids = {}
    for kind, (ok, msg) in {
        "identify": client.identify(user_id, deepcopy(TRAITS)),
        "track": client.track(user_id, EVENT, deepcopy(PROPERTIES), context=deepcopy(CONTEXT)),
        "page": client.page(user_id, name=PAGE_NAME, properties=deepcopy(PAGE_PROPERTIES)),
    }.items():
        assert ok, msg
        ids[kind] = msg["messageId"]
    client.flush()
    return ids


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_analytics_python_events_reach_the_destination_exactly_once(router, gzip):
    errors = []
    client = segment.Client(WRITE_KEY, host=router.url, gzip=gzip, on_error=lambda e, batch: errors.append(e),
                            upload_interval=0.1, max_retries=2)
    user_id = f"py-{'gzip' if gzip else 'plain'}"
    ids = send_standard_events(client, user_id)
    client.shutdown()
    assert errors == []
    by_type = delivered(router.hook, user_id, 3)
    assert_standard_events(by_type, user_id, ids)
    assert by_type["track"]["context"]["library"]["name"] == "analytics-python"
