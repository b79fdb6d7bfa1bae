"""@segment/analytics-node, unchanged, on the machine's Node.js, with ``host`` set to the router."""
from __future__ import annotations

import pytest

from tests.e2e.clients.harness import assert_standard_events, delivered, require_node_packages
from tests.e2e.clients.node_client import send_with_node

pytestmark = pytest.mark.e2e


def test_analytics_node_events_reach_the_destination_exactly_once(router):
    node = require_node_packages("@segment/analytics-node")
    ids = send_with_node(node, "analytics-node", router.url, "node-user")
    by_type = delivered(router.hook, "node-user", 3)
    assert_standard_events(by_type, "node-user", ids)
    assert by_type["track"]["context"]["library"]["name"] == "@segment/analytics-node"
    assert router.answered("POST", "/v1/batch", 200)
