"""The periodic part of delivery: due retries back to their buffers, batches of
dead workers back after their lease, a drain job for every buffer that has
none, dead letters trimmed by age. Safe to run more than one: every step is
one atomic script."""
from __future__ import annotations

import logging
import threading
import time

from router.runtime import Runtime

log = logging.getLogger(__name__)
TICK_LIMIT = 5000
TRIM_EVERY = 60.0


class Scheduler:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._last_trim = 0.0

    def tick(self) -> dict[str, tuple[int, int]]:
        """One pass over every enabled destination: {name: (retries moved, events reaped)}."""
        done = {}
        dests = self.rt.config.enabled_destinations
        names = [d.name for d in dests]
        trim = time.monotonic() - self._last_trim > TRIM_EVERY
        for dc in dests:
            name = dc.name
            if trim and not dc.ordered:
                # switched back to ``ordering: none``: its held events rejoin the buffer
                self.rt.queue.unhold(name)
            moved_total = reaped_total = 0
            while True:
                moved, reaped, token = self.rt.queue.tick(name, TICK_LIMIT, ordered=dc.ordered)
                self.rt.wake([(name, token)])
                moved_total += moved
                reaped_total += reaped
                if moved < TICK_LIMIT:
                    break
            if reaped_total:
                log.warning("%s: %d events returned from batches whose worker stopped", name, reaped_total)
            done[name] = (moved_total, reaped_total)
        if trim:
            self.rt.queue.trim_dead(names, self.rt.config.delivery["dead_letter_ttl"])
            self._last_trim = time.monotonic()
        self.rt.redis.set(self.rt.queue.keys.ticker, str(time.time()), ex=60)
        return done

    def run(self, stop: threading.Event) -> None:
        interval = self.rt.config.delivery["tick"]
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # Redis away for a moment: log, keep ticking; nothing is dequeued here
                log.exception("scheduler tick failed")
            stop.wait(interval)
