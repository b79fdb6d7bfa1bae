"""Replay: each chosen dead letter goes back to its destination exactly once."""
from __future__ import annotations

from router.replay import replay
from tests.fakes.http import FakeServer, Reply
from tests.helpers import WRITE_KEY, webhook_destination, work


def dead_letters_of(rt, client, n: int, hook) -> None:
    for i in range(n):
        r = client.post("/v1/track", json={"writeKey": WRITE_KEY, "userId": f"u{i}", "event": "e", "messageId": f"m{i}"})
        assert r.status_code == 200
    work(rt)
    assert rt.queue.depth("hook")["dead_letters"] == n


def test_two_replays_at_once_put_each_dead_letter_back_once(make_runtime, client_for):
    state = {"ok": False}
    with FakeServer(lambda req: Reply(200, {}) if state["ok"] else Reply(422, "no")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        dead_letters_of(rt, client_for(rt), 2, hook)
        state["ok"] = True
        # another process's replay runs while this one has pushed its events but not yet removed the dead letters
        other = []
        plain_wake = rt.wake

        def wake_with_another_replay(wakes):
            plain_wake(wakes)
            if not other:
                other.append(0)
                other[0] = replay(rt, "hook")

        rt.wake = wake_with_another_replay
        first = replay(rt, "hook")
        assert first + other[0] == 2
        assert rt.queue.depth("hook")["buffered"] == 2
        work(rt)
        depth = rt.queue.depth("hook")
        assert (depth["delivered"], depth["dead_letters"]) == (2, 0)


def test_a_replay_does_not_pick_up_the_dead_letters_its_own_events_become_while_it_runs(make_runtime, client_for):
    with FakeServer(lambda req: Reply(422, "still no")) as hook:
        rt = make_runtime(destinations=[webhook_destination(hook.base_url)])
        dead_letters_of(rt, client_for(rt), 1, hook)
        # a worker delivers (and dead-letters again) each replayed event while the replay goes on
        plain_wake, rounds = rt.wake, []

        def wake_and_work(wakes):
            plain_wake(wakes)
            if len(rounds) < 3:
                rounds.append(1)
                work(rt)

        rt.wake = wake_and_work
        assert replay(rt, "hook") == 1
        assert rt.queue.depth("hook")["dead_letters"] == 1


def test_a_replayed_anonymous_event_waits_behind_that_anonymous_users_retrying_event_at_an_ordered_destination(
        make_runtime, client_for):
    state = {"fixed": False}

    def vendor(req):
        mid = req.json()["messageId"]
        if mid == "a-2":
            return Reply(503, "down")
        return Reply(200, {}) if state["fixed"] else Reply(422, "no")

    with FakeServer(vendor) as hook:
        rt = make_runtime(delivery={"retry_base": "60s"},
                          destinations=[webhook_destination(hook.base_url, ordering="per_user")])
        client = client_for(rt)
        for mid in ("a-1", "a-2"):
            client.post("/v1/track", json={"writeKey": WRITE_KEY, "anonymousId": "anon-1", "event": "e", "messageId": mid})
            work(rt)
        assert rt.queue.depth("hook")["dead_letters"] == 1 and rt.queue.depth("hook")["retrying"] == 1
        state["fixed"] = True
        sent = len(hook.requests)
        assert replay(rt, "hook") == 1
        work(rt)
        # replayed dead letters join the back of the queue: behind a-2, which waits for its retry
        assert len(hook.requests) == sent
        assert rt.queue.depth("hook")["dead_letters"] == 0
