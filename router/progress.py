"""Following a destination's delivery from the command line (backfills, imports)."""
from __future__ import annotations

import time

import click
from tqdm import tqdm

from router.runtime import Runtime

#: every way an event is done with; one left out (filtered) would keep a follower waiting for ever
SETTLED = ("delivered", "rejected", "skipped", "filtered", "forgotten")
#: how long without progress before saying that no worker seems to run
QUIET_WARNING = 5.0


def settled(rt: Runtime, dest: str) -> dict[str, int]:
    """What the destination has finished with so far, by outcome (delivered, rejected = dead-lettered, ...)."""
    depth = rt.queue.depth(dest)
    return {k: depth.get(k, 0) for k in SETTLED}


def follow_delivery(rt: Runtime, dest: str, baseline: dict[str, int], total: int, poll: float = 0.5) -> dict[str, int]:
    """A progress bar of ``total`` events settling at ``dest`` (from ``baseline``); Ctrl-C stops watching only.

    Ends with what became of them: delivered and dead-lettered counted apart, since a
    backfill that "finished" with every event in the dead letters did not deliver anything."""
    from router.admin import health

    done = 0
    counts = {k: 0 for k in SETTLED}
    last_progress = time.monotonic()
    warned = False
    with tqdm(total=total, unit="event", desc=f"settled at {dest}", disable=None) as bar:
        try:
            while done < total:
                time.sleep(poll)
                counts = {k: v - baseline.get(k, 0) for k, v in settled(rt, dest).items()}
                now = min(total, sum(counts.values()))
                if now > done:
                    bar.update(now - done)
                    done, last_progress = now, time.monotonic()
                elif not warned and time.monotonic() - last_progress > QUIET_WARNING and not health(rt)[0].get("workers"):
                    click.echo("no worker is running: start `eventrouter up` or `eventrouter worker` to deliver", err=True)
                    warned = True
        except KeyboardInterrupt:
            click.echo(f"\nstopped watching; {total - done} events stay queued and workers keep delivering them", err=True)
    parts = [f"delivered {counts['delivered']}", f"dead-lettered {counts['rejected']}"]
    parts += [f"{k} {counts[k]}" for k in ("skipped", "filtered", "forgotten") if counts[k]]
    if done < total:
        parts.append(f"still queued {total - done}")
    line = f"{dest}: {', '.join(parts)} (of {total})"
    if counts["rejected"]:
        line += f"; see `eventrouter dead-letters {dest}`"
    click.echo(line)
    return counts
