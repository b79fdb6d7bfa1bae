"""Following a destination's delivery from the command line (backfills, imports)."""
from __future__ import annotations

import time

import click
from tqdm import tqdm

from router.runtime import Runtime

SETTLED = ("delivered", "rejected", "skipped", "forgotten")
#: how long without progress before saying that no worker seems to run
QUIET_WARNING = 5.0


def settled(rt: Runtime, dest: str) -> int:
    """How many events the destination has finished with so far, either way."""
    depth = rt.queue.depth(dest)
    return sum(depth.get(k, 0) for k in SETTLED)


def follow_delivery(rt: Runtime, dest: str, baseline: int, total: int, poll: float = 0.5) -> int:
    """A progress bar of ``total`` events settling at ``dest`` (from ``baseline``); Ctrl-C stops watching only."""
    from router.admin import health

    done = 0
    last_progress = time.monotonic()
    warned = False
    with tqdm(total=total, unit="event", desc=f"delivered to {dest}", disable=None) as bar:
        try:
            while done < total:
                time.sleep(poll)
                now = min(total, settled(rt, dest) - baseline)
                if now > done:
                    bar.update(now - done)
                    done, last_progress = now, time.monotonic()
                elif not warned and time.monotonic() - last_progress > QUIET_WARNING and not health(rt)[0].get("workers"):
                    click.echo("no worker is running: start `eventrouter up` or `eventrouter worker` to deliver", err=True)
                    warned = True
        except KeyboardInterrupt:
            click.echo(f"\nstopped watching; {total - done} events stay queued and workers keep delivering them", err=True)
    click.echo(f"delivered to {dest}: {done}/{total} (see `eventrouter dead-letters {dest}` for any rejected)")
    return done
