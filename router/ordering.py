"""Per-user order at a destination (``ordering: per_user``): how a batch's outcomes are sorted
per user before the ordered SETTLE (router/queue.py) applies them.

Of each user's events in a batch, the oldest unfinished one decides: a retry goes to the retry
schedule and the user stays busy; our own throttling frees the user. Either way the user's
later unfinished events go back, in order, to the head of its held list, so nothing of that
user overtakes them. Finished events (delivered, skipped, dead) need nothing but a dead
letter's user, which SETTLE uses to say how many later events continue.
"""
from __future__ import annotations

from typing import Any

from router.queue import Settlement, UserOrder


def order_key(env: dict[str, Any]) -> str:
    """The user an envelope is ordered by: the userId hash, else the anonymousId one; '' = none."""
    return env["u"] or env.get("o", "")


class Sequencer:
    """Collects one batch's outcomes per user while the drainer judges the events in order."""

    def __init__(self, envs: list[dict[str, Any]]) -> None:
        # every user of the batch, dropped (forgotten) events' users included: SETTLE releases them
        self.order = UserOrder(held={k: [] for k in map(order_key, envs) if k})
        self._unfinished: set[str] = set()

    @staticmethod
    def mark(s: Settlement) -> tuple[int, int, int]:
        return len(s.retry), len(s.front), len(s.dead)

    def note(self, env: dict[str, Any], s: Settlement, before: tuple[int, int, int]) -> None:
        """Move what the drainer just added to ``s`` for ``env`` where per-user order needs it."""
        user = order_key(env)
        if not user:
            return
        retry, front, dead = before
        if len(s.retry) > retry:
            item = s.retry.pop()
            if user in self._unfinished:
                self.order.held[user].append(item[1])
            else:
                s.retry.append(item)
                self.order.busy[user] = env["r"]
            self._unfinished.add(user)
        elif len(s.front) > front:
            self.order.held[user].append(s.front.pop())
            self._unfinished.add(user)
        elif len(s.dead) > dead:
            self.order.dead.append((user, s.dead.pop()))

    def done(self, s: Settlement) -> Settlement:
        s.ordered = self.order
        return s
