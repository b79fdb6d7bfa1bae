"""Destination filters (router/filters.py): conditions, actions in Segment's order, errors with key paths."""
from __future__ import annotations

import pytest

from router.filters import FilterError, compile_filters, sample_bucket

PING = {"type": "track", "event": "Internal Ping", "userId": "u1", "properties": {"plan": "pro", "ssn": "1"}}
ORDER = {"type": "track", "event": "Order Completed", "userId": "u2",
         "properties": {"plan": "pro", "revenue": 120, "ssn": "123-45", "tags": ["vip", "eu"]},
         "context": {"page": {"path": "/checkout"}, "locale": "fi-FI"}}
IDENTIFY = {"type": "identify", "userId": "u3", "traits": {"email": "a@x.io", "plan": "pro", "ssn": "9"}}

ISSUE_EXAMPLE = [
    {"if": {"event": {"equals": "Internal Ping"}}, "then": "drop"},
    {"if": {"properties.plan": {"in": ["free", "trial"]}}, "then": {"sample": 10}},
    {"then": {"drop_properties": ["ssn"]}},
    {"if": {"type": {"equals": "identify"}}, "then": {"allow_properties": ["email", "plan"]}},
]


def matches(condition, event) -> bool:
    return compile_filters([{"if": condition, "then": "drop"}]).apply(event).event is None


def test_the_issue_example_drops_pings_with_the_rule_as_reason():
    verdict = compile_filters(ISSUE_EXAMPLE).apply(PING)
    assert verdict.event is None
    assert verdict.reason == "filters[0]: event equals 'Internal Ping'"


def test_the_issue_example_removes_ssn_and_keeps_only_listed_traits_on_identify():
    filters = compile_filters(ISSUE_EXAMPLE)
    assert filters.apply(IDENTIFY).event == {"type": "identify", "userId": "u3", "traits": {"email": "a@x.io", "plan": "pro"}}
    out = filters.apply(ORDER)
    assert out.event["properties"] == {"plan": "pro", "revenue": 120, "tags": ["vip", "eu"]}
    assert out.applied == ["filters[2]: every event: dropped properties ssn"]
    assert ORDER["properties"]["ssn"] == "123-45", "the event itself is not changed"


def test_actions_run_in_segments_order_whatever_the_list_order():
    # allow listed first, drop last: the drop still wins, and nothing is trimmed before it
    rules = [{"then": {"allow_properties": ["plan"]}}, {"then": {"drop_properties": ["plan"]}},
             {"if": {"userId": {"equals": "u2"}}, "then": "drop"}]
    verdict = compile_filters(rules).apply(ORDER)
    assert (verdict.event, verdict.reason) == (None, "filters[2]: userId equals 'u2'")
    kept = compile_filters(rules[:2]).apply(IDENTIFY)
    # drop_properties (plan) runs before allow_properties (plan): nothing is left
    assert kept.event["traits"] == {}
    assert kept.applied == ["filters[1]: every event: dropped properties plan",
                            "filters[0]: every event: kept only properties plan"]


def test_conditions_are_judged_on_the_event_as_it_arrived():
    rules = [{"then": {"drop_properties": ["plan"]}}, {"if": {"properties.plan": {"equals": "pro"}}, "then": "drop"}]
    assert compile_filters(rules).apply(ORDER).reason == "filters[1]: properties.plan equals 'pro'"


def test_sampling_is_stable_per_user_and_keeps_about_the_share_asked():
    rules = compile_filters([{"then": {"sample": 10}}])
    users = [{"type": "track", "event": "E", "userId": f"user-{n}"} for n in range(2000)]
    kept = [e["userId"] for e in users if rules.apply(e).event is not None]
    assert 140 <= len(kept) <= 260  # 10 % of 2000, within a wide margin
    again = [e["userId"] for e in users if rules.apply(dict(e, messageId="other")).event is not None]
    assert kept == again, "the same users are kept every time"
    anon = {"type": "track", "event": "E", "anonymousId": "a-1"}
    assert sample_bucket(anon) == sample_bucket(dict(anon, messageId="m-9"))


def test_a_sampled_out_event_says_which_rule_and_share():
    rules = compile_filters([{"if": {"type": {"equals": "track"}}, "then": {"sample": 0}}])
    assert rules.apply(ORDER).reason == "filters[0]: type equals 'track': sampled out (keeps 0 %)"
    assert compile_filters([{"then": {"sample": 100}}]).apply(ORDER).event == ORDER


@pytest.mark.parametrize("condition,expected", [
    ({"event": {"equals": "Order Completed"}}, True),
    ({"event": {"not_equals": "Order Completed"}}, False),
    ({"properties.plan": {"in": ["free", "pro"]}}, True),
    ({"properties.plan": {"not_in": ["free", "pro"]}}, False),
    ({"properties.missing": {"not_in": ["x"]}}, True),
    ({"event": {"contains": "Complet"}}, True),
    ({"properties.tags": {"contains": "vip"}}, True),
    ({"properties.tags": {"contains": "v"}}, False),
    ({"context.page.path": {"starts_with": "/check"}}, True),
    ({"context.locale": {"ends_with": "-FI"}}, True),
    ({"properties.ssn": {"exists": True}}, True),
    ({"traits.email": {"exists": True}}, False),
    ({"traits.email": {"exists": False}}, True),
    ({"properties.revenue": {"gt": 100}}, True),
    ({"properties.revenue": {"gte": 120}}, True),
    ({"properties.revenue": {"lt": 120}}, False),
    ({"properties.revenue": {"lte": 120.0}}, True),
    ({"properties.plan": {"gt": 1}}, False),  # a string is not a number
    ({"properties.revenue": {"gt": 100, "lt": 110}}, False),  # several operators: all must hold
    ({"event": {"equals": "Order Completed"}, "userId": {"equals": "nobody"}}, False),
    ({"or": [{"userId": {"equals": "nobody"}}, {"properties.plan": {"equals": "pro"}}]}, True),
    ({"and": [{"userId": {"equals": "u2"}}, {"properties.plan": {"equals": "free"}}]}, False),
    ({"not": {"type": {"equals": "identify"}}}, True),
])
def test_each_operator_decides_as_documented(condition, expected):
    assert matches(condition, ORDER) is expected


def test_true_is_not_one():
    event = {"type": "track", "event": "E", "properties": {"flag": True, "n": 1}}
    assert matches({"properties.n": {"equals": True}}, event) is False
    assert matches({"properties.flag": {"equals": 1}}, event) is False
    assert matches({"properties.flag": {"gt": 0}}, event) is False


def test_a_bad_operator_names_its_path_and_lists_the_known_ones():
    with pytest.raises(FilterError) as err:
        compile_filters([{"if": {"event": {"equals": "x"}}, "then": "drop"},
                         {"if": {"properties.plan": {"equal": "free"}}, "then": "drop"}])
    assert err.value.errors == {1: {"if": {"properties.plan": {"equal": [
        "unknown operator 'equal' (known: equals, not_equals, in, not_in, contains, starts_with, ends_with, "
        "exists, gt, gte, lt, lte)"]}}}}


def test_every_mistake_of_a_filter_list_is_reported_at_once():
    with pytest.raises(FilterError) as err:
        compile_filters([
            {"if": {"plan": {"equals": "x"}}, "then": "drop"},
            {"then": {"sample": 150}},
            {"if": {"or": [{"event": {"in": "x"}}]}, "then": {"drop_properties": "ssn"}},
            {"iff": {}, "then": "keep"},
            {"if": {"properties.n": {"gt": "5"}}},
        ])
    errors = err.value.errors
    assert errors[0] == {"if": {"plan": ["unknown field 'plan' (known: type, event, name, userId, anonymousId, groupId, "
                                         "messageId, properties.<name>, traits.<name>, context.<name>, and / or / not)"]}}
    assert errors[1] == {"then": {"sample": ["a percentage between 0 and 100 (the share of events kept)"]}}
    assert errors[2] == {"if": {"or": {0: {"event": {"in": ["in takes a list, e.g. in: [free, trial]"]}}}},
                         "then": {"drop_properties": ["a list of property names"]}}
    assert errors[3]["iff"] == ["unknown key (known: if, then)"]
    assert errors[3]["then"] == ["one action: drop, {sample: <percent>}, {drop_properties: [...]} or {allow_properties: [...]}"]
    assert errors[4] == {"if": {"properties.n": {"gt": ["gt takes a number"]}},
                         "then": ["missing (required): drop, {sample: N}, {drop_properties: [...]} or {allow_properties: [...]}"]}


def test_sampling_runs_before_a_drop_listed_above_it():
    """Segment's order: a free user's ping is judged by the sample rule first (u1 falls outside 10 %)."""
    ping = dict(PING, properties={"plan": "free"})
    assert sample_bucket(ping) >= 10
    assert compile_filters(ISSUE_EXAMPLE).apply(ping).reason == (
        'filters[1]: properties.plan in ["free", "trial"]: sampled out (keeps 10 %)')


@pytest.mark.parametrize("action", ["drop_properties", "allow_properties"])
def test_a_property_written_as_a_path_is_refused_rather_than_silently_never_matching(action):
    """``if`` takes paths (properties.ssn); these take top-level names (ssn): a path there removed nothing."""
    with pytest.raises(FilterError) as err:
        compile_filters([{"then": {action: ["email", "properties.ssn", "address.street"]}}])
    verb = "remove it from" if action == "drop_properties" else "keep it in"
    assert err.value.errors == {0: {"then": {action: [
        f"'properties.ssn', 'address.street': property names, not paths: write ssn to {verb} "
        "properties, traits and context.traits (a nested key needs a transform)"]}}}
