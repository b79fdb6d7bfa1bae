"""destinations/ordering.py: which request each item of a batch goes in, and merging a customer's records."""
from __future__ import annotations

from typing import Any

from destinations.base import Prepared
from destinations.ordering import Kinds, merge_units, plan_steps, user_keys

KINDS = Kinds(order=("profile", "order", "event", "delete"), profile=frozenset({"profile", "delete"}), final=frozenset({"delete"}))


def item(kind: str, user: str | None = None, **event: Any) -> Prepared:
    if user:
        event["userId"] = user
    return Prepared(event, kind)


def steps(*items: Prepared) -> list[tuple[str, list[int]]]:
    return [(s.kind, s.indexes) for s in plan_steps(list(items), lambda i: i.payload, KINDS)]


def test_a_batch_of_several_users_needs_one_step_per_kind_profiles_first():
    assert steps(item("event", "u1"), item("profile", "u2"), item("event", "u2"), item("order", "u3")) == [
        ("profile", [1]), ("order", [3]), ("event", [0, 2])]


def test_a_users_identifies_share_a_step_even_with_events_between_them():
    assert steps(item("profile", "u1"), item("event", "u1"), item("profile", "u1")) == [("profile", [0, 2]), ("event", [1])]


def test_events_of_different_kinds_do_not_wait_for_each_other():
    assert steps(item("event", "u1"), item("order", "u1"), item("event", "u1")) == [("order", [1]), ("event", [0, 2])]


def test_a_delete_follows_everything_of_its_user_and_everything_after_it_follows_the_delete():
    assert steps(item("event", "u1"), item("delete", "u1"), item("profile", "u1"), item("event", "u1"), item("profile", "u2")) == [
        ("profile", [4]), ("event", [0]), ("delete", [1]), ("profile", [2]), ("event", [3])]


def test_the_same_person_is_recognised_by_user_id_anonymous_id_or_email():
    first_seen = item("profile", anonymousId="a1", traits={"email": "Ann@Example.com"})
    by_email = item("delete", context={"traits": {"email": "ann@example.com"}})
    assert user_keys(first_seen.event) == {("anonymousId", "a1"), ("email", "ann@example.com")}
    assert steps(item("event", anonymousId="a1"), first_seen, by_email, item("profile", anonymousId="a1")) == [
        ("profile", [1]), ("event", [0]), ("delete", [2]), ("profile", [3])]


def test_merge_units_folds_records_of_one_key_in_received_order_and_keeps_keyless_ones_apart():
    payloads = [{"k": "a", "v": 1}, {"k": None, "v": 2}, {"k": "b", "v": 3}, {"k": "a", "v": 4, "w": 5}, {"k": None, "v": 6}]
    units = merge_units(range(5), payloads.__getitem__, lambda p: p["k"], lambda old, new: {**old, **new})
    assert units == [
        ([0, 3], {"k": "a", "v": 4, "w": 5}),
        ([1], {"k": None, "v": 2}),
        ([2], {"k": "b", "v": 3}),
        ([4], {"k": None, "v": 6}),
    ]
