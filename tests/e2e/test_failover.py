"""Redis failover under load: a master, a replica and three sentinels on 127.0.0.1, the master
SIGKILLed while the Flask app ingests a steady stream (tests/e2e/failover.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e import failover
from tests.e2e.redis_ha import RedisHA, missing

pytestmark = pytest.mark.skipif(bool(missing()), reason=missing())


@pytest.fixture
def ha(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RedisHA]:
    topology = RedisHA(tmp_path, replicas=getattr(request, "param", 1))
    try:
        yield topology.start()
    finally:
        topology.stop()


def test_ingest_follows_the_promoted_master_after_the_master_is_killed(ha: RedisHA) -> None:
    out = failover.run(ha, "async")
    print(out.summary("async"))
    # the sentinels need 1 s to agree the master is down, then a few to promote: generous bound
    assert out.outage < 30
    assert out.acked, "nothing was acked"
    # async replication: what was acked in the instant before the kill may be gone (measured and
    # stated in the README), never more than the one second of load a lagging replica could miss
    assert len(out.lost) <= 5 * 100


@pytest.mark.parametrize("ha", [2], indirect=True)
def test_replicated_durability_loses_no_acked_event_across_a_failover(ha: RedisHA) -> None:
    # two replicas: after the failover the promoted master still has one to WAIT for
    # (with one, ingest answers 503 until the failed node is back as a replica: bench/failover.py)
    out = failover.run(ha, "replicated")
    print(out.summary("replicated"))
    assert out.acked
    assert out.lost == set()
    assert out.outage < 40


def test_replicated_durability_answers_503_while_no_replica_holds_the_events(ha: RedisHA) -> None:
    for replica in ha.replicas:
        replica.kill()
    out = failover.run(ha, "replicated", before=60, cap=1.0)  # no kill: the replica is the one gone
    assert out.acked == set()
    assert out.requests and out.unavailable == out.requests
