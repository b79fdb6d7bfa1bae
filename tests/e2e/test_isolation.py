"""A hanging vendor must not delay the others: measured with real worker processes."""
from __future__ import annotations

import pytest

from tests.e2e.isolation import measure

pytestmark = pytest.mark.e2e


def test_a_hanging_destination_does_not_delay_a_healthy_one_and_loses_nothing(tmp_path, embedded):
    # The defaults (2 workers, concurrency 2, drain_budget 10s) with the vendor's timeout at 4s
    # instead of 10s to keep the test short; batch_size 10 instead of 100 keeps the backlog a
    # hang builds up (rate x timeout) as large, relative to a batch, as it is with the defaults.
    result = measure(tmp_path, timeout=4.0, rate=10, seconds=16, hanging_batch_size=10)
    print(result.summary())
    assert len(result.healthy) == len(result.sent), result.summary()
    assert result.p(0.95) < 2.0, result.summary()
    # every event to the hanging vendor was kept and arrived once it recovered
    assert set(result.hanging) - {"warm-up"} == set(result.sent), result.summary()
    assert result.depth["dead_letters"] == 0
