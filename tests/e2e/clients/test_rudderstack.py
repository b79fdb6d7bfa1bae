"""RudderStack's SDKs, unchanged, with the router as their data plane: they post
gzipped ``/v1/batch`` with the write key as the Basic-auth user name."""
from __future__ import annotations

from copy import deepcopy

import pytest

from tests.e2e.clients.harness import (CONTEXT, EVENT, PAGE_NAME, PAGE_PROPERTIES, PROPERTIES, TRAITS, WRITE_KEY,
                                       assert_standard_events, delivered, require_node_packages)
from tests.e2e.clients.node_client import send_with_node

pytestmark = pytest.mark.e2e


def test_rudder_sdk_python_events_reach_the_destination_exactly_once(router):
    rudder = pytest.importorskip("rudderstack.analytics.client", reason="rudder-sdk-python is not installed: pip install -e '.[test]'")
    errors = []
    client = rudder.Client(WRITE_KEY, host=router.url, on_error=lambda e, batch: errors.append(e),
                           upload_interval=0.1, max_retries=2)
    ids = {}
    for kind, (ok, msg) in {
        "identify": client.identify("rudder-py", deepcopy(TRAITS)),
        "track": client.track("rudder-py", EVENT, deepcopy(PROPERTIES), context=deepcopy(CONTEXT)),
        "page": client.page("rudder-py", name=PAGE_NAME, properties=deepcopy(PAGE_PROPERTIES)),
    }.items():
        assert ok, msg
        ids[kind] = msg["messageId"]
    client.flush()
    client.shutdown()
    assert errors == []
    assert client.gzip  # the SDK's default: the router has to read gzip bodies
    by_type = delivered(router.hook, "rudder-py", 3)
    assert_standard_events(by_type, "rudder-py", ids, traits_in_context=True)
    assert by_type["track"]["context"]["library"]["name"] == "analytics-python"
    assert by_type["track"]["channel"] == "server"


def test_rudder_sdk_node_events_reach_the_destination_exactly_once(router):
    node = require_node_packages("@rudderstack/rudder-sdk-node")
    ids = send_with_node(node, "rudder-node", router.url, "rudder-node")
    by_type = delivered(router.hook, "rudder-node", 3)
    assert_standard_events(by_type, "rudder-node", ids)
    assert by_type["identify"]["context"]["traits"] == by_type["identify"]["traits"]  # RudderStack copies them
    assert by_type["track"]["channel"] == "server"
