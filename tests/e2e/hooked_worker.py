"""A real `eventrouter` process that stops dead at one named point, so a test can SIGKILL it
exactly there: ``python -m tests.e2e.hooked_worker <point> <flag file> --config X worker --burst``.
At the point it writes the flag file and waits for the kill (at most a minute)."""
from __future__ import annotations

import runpy
import sys
import time
from pathlib import Path
from typing import Any

from router.queue import DeliveryQueue

HOLD = 60.0


def stop_here(flag: str) -> None:
    Path(flag).write_text("here")
    time.sleep(HOLD)


def after_settle(flag: str) -> None:
    """Right after a batch's SETTLE ran in Redis, before the drainer does anything with its answer."""
    real = DeliveryQueue._settled

    def settled(done: Any, s: Any) -> bool:
        result = real(done, s)
        stop_here(flag)
        return result

    DeliveryQueue._settled = staticmethod(settled)  # type: ignore[method-assign]


def before_start(flag: str) -> None:
    """A drain job taken off its RQ queue (into RQ's intermediate list), not yet started."""
    from rq import SimpleWorker

    def prepare_execution(self: Any, job: Any) -> Any:
        stop_here(flag)

    SimpleWorker.prepare_execution = prepare_execution  # type: ignore[method-assign]


POINTS = {"after-settle": after_settle, "before-start": before_start}

if __name__ == "__main__":
    point, flag, *rest = sys.argv[1:]
    POINTS[point](flag)
    sys.argv = ["router.cli", *rest]
    runpy.run_module("router.cli", run_name="__main__")
