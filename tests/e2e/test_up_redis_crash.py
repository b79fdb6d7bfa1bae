"""`eventrouter up` heals a SIGKILLed embedded Redis by itself, and every acked event still arrives."""
from __future__ import annotations

import os
import signal
import time

import pytest
import requests

from tests.e2e.procs import Proc, free_port, wait_http, write_config
from tests.fakes.http import FakeServer, Reply

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="`up` only supervises the embedded Redis"),
]
#: the issue's bar is "a few seconds"; generous for a 2-core box shared with other test runs
RECOVERY_BOUND = 10.0


def send(session: requests.Session, port: int, message_id: str) -> int | None:
    """One track call; its status, or None when the router did not answer in time."""
    try:
        r = session.post(f"http://127.0.0.1:{port}/v1/track", auth=("e2e-write-key", ""), timeout=3,
                         json={"userId": "u1", "event": "Order Completed", "messageId": message_id})
    except requests.RequestException:
        return None
    return r.status_code


def test_ingest_recovers_by_itself_after_the_embedded_redis_is_killed_and_acked_events_arrive(tmp_path):
    with FakeServer(lambda req: Reply(200, {}, delay=0.02)) as hook:
        config = write_config(tmp_path, [{"name": "crm", "type": "webhook", "settings": {"url": hook.base_url}}])
        port = free_port()
        up = Proc(config, "up", "--port", str(port), "--workers", "2", "--web-workers", "2")
        try:
            assert wait_http(f"http://127.0.0.1:{port}/healthz"), up.output()
            session = requests.Session()
            acked: set[str] = set()
            for i in range(40):
                assert send(session, port, f"before-{i}") == 200
                acked.add(f"before-{i}")
            pidfile = tmp_path / "data" / "redis.pid"
            old_pid = int(pidfile.read_text())
            os.kill(old_pid, signal.SIGKILL)
            killed_at = time.monotonic()
            recovered_after = None
            failures = 0
            i = 0
            # keep sending as a client would; stop 20 acks after the first one that followed the crash
            while time.monotonic() - killed_at < 30 and len([m for m in acked if m.startswith("after")]) < 20:
                status = send(session, port, f"after-{i}")
                if status == 200:
                    acked.add(f"after-{i}")
                    if recovered_after is None and failures:
                        recovered_after = time.monotonic() - killed_at
                else:
                    assert status in (503, None), status
                    failures += 1
                    time.sleep(0.05)
                i += 1
            assert failures, "no request failed: Redis was not down at all, so nothing was tested"
            assert recovered_after is not None and recovered_after < RECOVERY_BOUND, (recovered_after, up.output())
            assert int(pidfile.read_text()) != old_pid
            deadline = time.monotonic() + 60
            while not acked <= {r.json()["messageId"] for r in list(hook.requests)} and time.monotonic() < deadline:
                time.sleep(0.2)
            assert acked - {r.json()["messageId"] for r in list(hook.requests)} == set()
        finally:
            code = up.stop()
        out = up.output()
        assert "embedded Redis exited with code -9; starting it again" in out
        assert "keeps exiting" not in out and code == 0, out
