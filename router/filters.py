"""Destination filters: per-destination rules that sample, drop or trim events.

    filters:
      - if: {event: {equals: "Internal Ping"}}
        then: drop
      - if: {properties.plan: {in: [free, trial]}}
        then: {sample: 10}                 # keep 10 %, stable per user
      - then: {drop_properties: [ssn]}     # no `if`: every event
      - if: {type: {equals: identify}}
        then: {allow_properties: [email, plan]}

Pure: :func:`compile_filters` validates the YAML once (errors carry their key
path), :meth:`Filters.apply` decides for one event. Every rule's ``if`` is
judged on the event as it arrived; the actions then run in Segment's
documented order whatever their order in the list: sample, drop, drop
properties, allow properties. A dropped event carries the rule that dropped it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from destinations.mapping import MISSING, get_path

#: the event fields a rule may look at; properties / traits / context take a dotted sub-path
FIELDS = ("type", "event", "name", "userId", "anonymousId", "groupId", "messageId")
PREFIXES = ("properties", "traits", "context")
OPERATORS = ("equals", "not_equals", "in", "not_in", "contains", "starts_with", "ends_with", "exists",
             "gt", "gte", "lt", "lte")
COMBINATORS = ("and", "or", "not")
ACTIONS = ("sample", "drop", "drop_properties", "allow_properties")
#: Segment's documented order of the actions
ORDER = {"sample": 0, "drop": 1, "drop_properties": 2, "allow_properties": 3}

Errors = dict[Any, Any]


class FilterError(ValueError):
    """The ``filters:`` list is wrong; ``errors`` is a nested dict keyed like the YAML (list index, key)."""

    def __init__(self, errors: Errors) -> None:
        super().__init__(json.dumps(errors, default=str))
        self.errors = errors


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    """Equality without Python's True == 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _contains(value: Any, arg: Any) -> bool:
    if isinstance(value, str):
        return isinstance(arg, str) and arg in value
    if isinstance(value, list):
        return any(_same(v, arg) for v in value)
    return False


TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "equals": lambda v, a: v is not MISSING and _same(v, a),
    "not_equals": lambda v, a: v is MISSING or not _same(v, a),
    "in": lambda v, a: v is not MISSING and any(_same(v, x) for x in a),
    "not_in": lambda v, a: v is MISSING or not any(_same(v, x) for x in a),
    "contains": lambda v, a: _contains(v, a),
    "starts_with": lambda v, a: isinstance(v, str) and v.startswith(a),
    "ends_with": lambda v, a: isinstance(v, str) and v.endswith(a),
    "exists": lambda v, a: (v is not MISSING and v is not None) is a,
    "gt": lambda v, a: _number(v) and v > a,
    "gte": lambda v, a: _number(v) and v >= a,
    "lt": lambda v, a: _number(v) and v < a,
    "lte": lambda v, a: _number(v) and v <= a,
}


def _check_argument(op: str, arg: Any) -> str | None:
    """Why ``arg`` can't go with ``op``, or None."""
    if op in ("in", "not_in") and not isinstance(arg, list):
        return f"{op} takes a list, e.g. {op}: [free, trial]"
    if op in ("starts_with", "ends_with") and not isinstance(arg, str):
        return f"{op} takes a string"
    if op == "exists" and not isinstance(arg, bool):
        return "exists takes true or false"
    if op in ("gt", "gte", "lt", "lte") and not _number(arg):
        return f"{op} takes a number"
    if op in ("equals", "not_equals", "contains") and isinstance(arg, (dict, list)):
        return f"{op} takes a single value (use in: [...] for a list)"
    return None


def _valid_path(path: str) -> bool:
    if path in FIELDS:
        return True
    root, dot, rest = path.partition(".")
    return root in PREFIXES and bool(dot) and all(rest.split("."))


@dataclass(frozen=True)
class Condition:
    """A compiled ``if``: ``test(event) -> bool`` and how to say it."""

    test: Callable[[Mapping[str, Any]], bool]
    text: str


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def compile_condition(node: Any, errors: Errors) -> Condition | None:
    """``{path: {op: arg}}``, several keys (all must hold), ``and: [...]``, ``or: [...]``, ``not: {...}``."""
    if not isinstance(node, Mapping) or not node:
        errors.setdefault("_schema", []).append(
            "a condition is a mapping: {path: {operator: value}}, and: [...], or: [...] or not: {...}")
        return None
    parts: list[Condition] = []
    for key, value in node.items():
        key = str(key)
        if key in ("and", "or"):
            if not isinstance(value, list) or not value:
                errors[key] = [f"{key} takes a non-empty list of conditions"]
                continue
            subs = []
            for i, item in enumerate(value):
                sub_errors: Errors = {}
                sub = compile_condition(item, sub_errors)
                if sub_errors:
                    errors.setdefault(key, {})[i] = sub_errors
                elif sub:
                    subs.append(sub)
            if len(subs) == len(value):
                join = all if key == "and" else any
                tests = [s.test for s in subs]
                parts.append(Condition(lambda e, t=tests, j=join: j(x(e) for x in t),
                                       "(" + f" {key} ".join(s.text for s in subs) + ")"))
        elif key == "not":
            sub_errors = {}
            sub = compile_condition(value, sub_errors)
            if sub_errors:
                errors["not"] = sub_errors
            elif sub:
                parts.append(Condition(lambda e, t=sub.test: not t(e), f"not {sub.text}"))
        elif not _valid_path(key):
            roots = ", ".join(FIELDS) + ", " + ", ".join(p + ".<name>" for p in PREFIXES)
            errors[key] = [f"unknown field {key!r} (known: {roots}, and / or / not)"]
        elif not isinstance(value, Mapping) or not value:
            errors[key] = [f"a mapping of operator to value, e.g. {key}: {{equals: ...}} "
                           f"(operators: {', '.join(OPERATORS)})"]
        else:
            for op, arg in value.items():
                if op not in TESTS:
                    errors.setdefault(key, {})[str(op)] = [f"unknown operator {op!r} (known: {', '.join(OPERATORS)})"]
                    continue
                problem = _check_argument(op, arg)
                if problem:
                    errors.setdefault(key, {})[op] = [problem]
                    continue
                test = TESTS[op]
                parts.append(Condition(lambda e, p=key, t=test, a=arg: t(get_path(e, p), a),
                                       f"{key} {op.replace('_', ' ')} {_show(arg)}"))
    if errors:
        return None
    if len(parts) == 1:
        return parts[0]
    tests = [p.test for p in parts]
    return Condition(lambda e: all(t(e) for t in tests), " and ".join(p.text for p in parts))


@dataclass(frozen=True)
class Rule:
    index: int
    condition: Condition | None
    action: str
    argument: Any = None
    #: ``filters[0]: event equals 'Internal Ping'`` (``filters[2]: every event`` without ``if``)
    label: str = ""
    #: what it did to a kept event, for the event tester
    note: str = ""

    def matches(self, event: Mapping[str, Any]) -> bool:
        return self.condition is None or self.condition.test(event)


def _compile_action(then: Any, errors: Errors) -> tuple[str, Any] | None:
    if then == "drop":
        return "drop", None
    if not isinstance(then, Mapping) or len(then) != 1:
        errors["then"] = ["one action: drop, {sample: <percent>}, {drop_properties: [...]} or "
                          "{allow_properties: [...]}"]
        return None
    ((action, arg),) = then.items()
    if action not in ACTIONS or action == "drop":
        errors["then"] = {str(action): [f"unknown action {action!r} (known: {', '.join(ACTIONS)})"]}
        return None
    if action == "sample":
        if not _number(arg) or not 0 <= arg <= 100:
            errors["then"] = {"sample": ["a percentage between 0 and 100 (the share of events kept)"]}
            return None
        return action, float(arg)
    if not isinstance(arg, list) or not all(isinstance(a, str) and a for a in arg):
        errors["then"] = {action: ["a list of property names"]}
        return None
    paths = [a for a in arg if "." in a]
    if paths:
        # `if` takes paths, so properties.ssn is natural here too, but it would match no key and keep the PII
        verb = "remove it from" if action == "drop_properties" else "keep it in"
        errors["then"] = {action: [f"{', '.join(map(repr, paths))}: property names, not paths: write "
                                   f"{paths[0].rsplit('.', 1)[-1]} to {verb} properties, traits and context.traits "
                                   "(a nested key needs a transform)"]}
        return None
    return action, tuple(arg)


def sample_bucket(event: Mapping[str, Any]) -> float:
    """0 <= x < 100, the same for every event of a user (userId, else anonymousId, else the event itself)."""
    key = event.get("userId") or event.get("anonymousId") or event.get("messageId") or ""
    digest = hashlib.sha256(str(key).encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 / 100


@dataclass
class Verdict:
    """What the filters did to one event: ``event`` is None when it was dropped (``reason`` says by which rule)."""

    event: dict[str, Any] | None
    reason: str = ""
    #: one line per rule that matched, for the event tester
    applied: list[str] = field(default_factory=list)


def _trim(section: Any, names: Sequence[str], keep: bool) -> Any:
    if not isinstance(section, dict):
        return section
    return {k: v for k, v in section.items() if (k in names) == keep}


@dataclass(frozen=True)
class Filters:
    rules: tuple[Rule, ...]

    def apply(self, event: dict[str, Any]) -> Verdict:
        """The event after the rules (a copy when properties were removed), or None and the dropping rule."""
        applied: list[str] = []
        out = event
        for rule in self.rules:  # already in Segment's order
            if not rule.matches(event):
                continue
            if rule.action == "sample":
                if sample_bucket(event) >= rule.argument:
                    reason = f"{rule.label}: sampled out (keeps {rule.argument:g} %)"
                    return Verdict(None, reason, applied + [reason])
            elif rule.action == "drop":
                return Verdict(None, rule.label, applied + [f"{rule.label}: dropped"])
            else:
                if out is event:
                    out = dict(event)  # _trim builds new sections: the event itself is never changed
                keep = rule.action == "allow_properties"
                for section in ("properties", "traits"):
                    if section in out:
                        out[section] = _trim(out[section], rule.argument, keep)
                # mappers read context.traits merged with traits: the same person data
                context = out.get("context")
                if isinstance(context, dict) and isinstance(context.get("traits"), dict):
                    out["context"] = {**context, "traits": _trim(context["traits"], rule.argument, keep)}
            applied.append(rule.note)
        return Verdict(out, "", applied)


def compile_filters(raw: Any) -> Filters:
    """Validate a ``filters:`` list. Raises FilterError with every problem, keyed by its path."""
    if not isinstance(raw, list):
        raise FilterError({"_schema": ["a list of rules, each with then: and an optional if:"]})
    errors: Errors = {}
    rules = []
    for i, item in enumerate(raw):
        rule_errors: Errors = {}
        if not isinstance(item, Mapping):
            errors[i] = {"_schema": ["a rule is a mapping with then: and an optional if:"]}
            continue
        for key in item:
            if key not in ("if", "then"):
                rule_errors[str(key)] = ["unknown key (known: if, then)"]
        condition = None
        if "if" in item:
            cond_errors: Errors = {}
            condition = compile_condition(item["if"], cond_errors)
            if cond_errors:
                rule_errors["if"] = cond_errors
        if "then" not in item:
            rule_errors["then"] = ["missing (required): drop, {sample: N}, {drop_properties: [...]} or {allow_properties: [...]}"]
            action = None
        else:
            action = _compile_action(item["then"], rule_errors)
        if rule_errors:
            errors[i] = rule_errors
        elif action:
            label = f"filters[{i}]: {condition.text if condition else 'every event'}"
            verb = {"sample": "sampled in (keeps {:g} %)", "drop_properties": "dropped properties {}",
                    "allow_properties": "kept only properties {}"}.get(action[0], "")
            arg = ", ".join(action[1]) if isinstance(action[1], tuple) else action[1]
            rules.append(Rule(i, condition, action[0], action[1], label, f"{label}: {verb.format(arg)}"))
    if errors:
        raise FilterError(errors)
    return Filters(tuple(sorted(rules, key=lambda r: (ORDER[r.action], r.index))))
