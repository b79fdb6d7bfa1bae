"""A page that loads analytics.js (``@segment/analytics-next``'s UMD bundle, from the npm
package on disk) and a headless Chromium that opens it.

The page is served on 127.0.0.1 by a real HTTP server; the bundle's lazily loaded
chunks come from the same server (``window.analytics._cdn`` points the bundle at it
before it loads), the settings from the router (``cdnURL``). Once its calls are
done, the page posts what happened (messageIds, failed deliveries, every URL it
loaded) to ``/report``.
"""
from __future__ import annotations

import json
import mimetypes
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.e2e.clients.harness import CONTEXT, EVENT, NODE_DIR, PAGE_NAME, PAGE_PROPERTIES, PROPERTIES, TRAITS
from tests.fakes.http import FakeServer, Reply, Request

BUNDLES = NODE_DIR / "node_modules" / "@segment" / "analytics-next" / "dist" / "umd"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>shop</title>
<script>window.analytics = {_cdn: location.origin}</script>
<script src="/analytics-next/bundles/index.js"></script>
</head><body><h1>shop</h1>
<script>
const cfg = %(cfg)s
async function run() {
  const [analytics] = await AnalyticsNext.AnalyticsBrowser.load({writeKey: cfg.writeKey, cdnURL: cfg.router})
  const ctxs = {
    identify: await analytics.identify(cfg.userId, cfg.traits),
    track: await analytics.track(cfg.event, cfg.properties, {context: cfg.context}),
    page: await analytics.page(cfg.category, cfg.pageName, cfg.pageProperties),
  }
  const ids = {}, failed = {}
  for (const [type, ctx] of Object.entries(ctxs)) {
    ids[type] = ctx.event.messageId
    if (ctx.failedDelivery()) failed[type] = String(ctx.failedDelivery().reason)
  }
  return {ids, failed}
}
run().catch((err) => ({error: String(err && err.stack || err)})).then((result) => {
  result.resources = performance.getEntriesByType('resource').map((e) => e.name)
  return fetch('/report', {method: 'POST', body: JSON.stringify(result)})
})
</script></body></html>
"""


class PageServer(FakeServer):
    """Serves the page and the bundle folder; records the page's report."""

    def __init__(self, router_url: str, write_key: str, user_id: str) -> None:
        self.page = PAGE % {"cfg": json.dumps({
            "router": router_url, "writeKey": write_key, "userId": user_id, "traits": TRAITS, "event": EVENT,
            "properties": PROPERTIES, "context": CONTEXT, "category": "Docs", "pageName": PAGE_NAME,
            "pageProperties": PAGE_PROPERTIES,
        })}
        super().__init__(self.serve)

    def serve(self, req: Request) -> Reply:
        if req.path == "/page.html":
            return Reply(200, self.page.encode(), {"Content-Type": "text/html; charset=utf-8"})
        if req.path == "/report" and req.method == "POST":
            return Reply(204, b"")
        prefix = "/analytics-next/bundles/"
        if req.path.startswith(prefix):
            file = (BUNDLES / req.path[len(prefix):]).resolve()
            if file.parent == BUNDLES.resolve() and file.is_file():
                ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                return Reply(200, file.read_bytes(), {"Content-Type": ctype})
        return Reply(404, b"not found")

    def wait_report(self, timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for r in list(self.requests):
                if r.path == "/report":
                    return r.json()
            time.sleep(0.05)
        return None


class Chromium:
    """Headless Chromium on one URL, with no way out of 127.0.0.1."""

    def __init__(self, binary: str, url: str, profile: Path) -> None:
        self.log = profile.parent / "chromium.log"
        args = [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}",
            # any name but the loopback address fails to resolve: nothing can load from a CDN
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            url,
        ]
        self.popen = subprocess.Popen(args, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
