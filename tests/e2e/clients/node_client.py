"""Running ``node/send.js``: one real Node.js client library sending the standard events."""
from __future__ import annotations

import json
import subprocess

from tests.e2e.clients.harness import NODE_DIR, WRITE_KEY


def send_with_node(node: str, library: str, router_url: str, user_id: str) -> dict[str, str]:
    """The messageIds the library generated, after it flushed; fails on any error it reported."""
    proc = subprocess.run([node, str(NODE_DIR / "send.js"), library, router_url, WRITE_KEY, user_id],
                          cwd=NODE_DIR, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"{library} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["errors"] == []
    return result["ids"]
