"""The request descriptions of an ``http`` destination, compiled once from the YAML.

Pure data and pure functions: :func:`compile_requests` validates every
description and returns :class:`RequestSpec` objects, or raises SpecError
whose ``errors`` are keyed like the YAML (``{1: {"body": {"amount": {"type": [...]}}}}``),
so ``check-config`` names the key path of each mistake.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from destinations.base import EVENT_TYPES

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
TYPES = ("string", "number", "integer", "boolean", "cents", "iso_time", "unix_seconds", "unix_ms")
FORMATS = ("json", "form")
OUTCOMES = ("done", "retry", "reject")
#: what a status means when the description does not say: 2xx done, 408/429/5xx retry, the rest reject
DEFAULT_STATUSES = {"done": ((200, 299),), "retry": ((408, 408), (429, 429), (500, 599)), "reject": ()}
TEMPLATE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_PATH = re.compile(r"^[A-Za-z0-9_$@-]+(\.[A-Za-z0-9_$@ -]+)*$")
_STATUS = re.compile(r"^(?:(\d{3})|(\d)xx|(\d{3})\s*-\s*(\d{3}))$")

Errors = dict[Any, Any]


class SpecError(ValueError):
    def __init__(self, errors: Errors) -> None:
        super().__init__(str(errors))
        self.errors = errors


@dataclass(frozen=True)
class Template:
    """``"/contacts/{{userId}}"``: text with ``{{path}}`` holes."""

    text: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class Source:
    """One target field: the first non-empty of ``paths``, or ``template``, or the literal ``value``."""

    paths: tuple[str, ...] = ()
    template: Template | None = None
    value: Any = None
    has_value: bool = False
    type: str | None = None
    required: bool = False
    default: Any = None


@dataclass(frozen=True)
class Batching:
    max: int
    #: the key the array goes under (``{"events": [...]}``), or None for a bare array
    wrap: str | None = None


@dataclass(frozen=True)
class RequestSpec:
    index: int
    type: str
    events: tuple[str, ...] | None
    method: str
    url: Template
    headers: tuple[tuple[str, Template], ...] = ()
    query: tuple[tuple[str, Source], ...] = ()
    body: tuple[tuple[str, Source], ...] | None = None
    #: the body is the Segment event as it is (``body: event``)
    whole_event: bool = False
    format: str = "json"
    batch: Batching | None = None
    statuses: Mapping[str, tuple[tuple[int, int], ...]] = field(default_factory=lambda: DEFAULT_STATUSES)

    def outcome_of(self, status: int) -> str:
        """done / reject / retry for an HTTP status; a status no list names is a reject."""
        for outcome in ("done", "reject", "retry"):
            if any(low <= status <= high for low, high in self.statuses[outcome]):
                return outcome
        return "reject"


def valid_path(path: Any) -> bool:
    return isinstance(path, str) and bool(_PATH.match(path))


def compile_template(text: Any, errors: list[str]) -> Template | None:
    if not isinstance(text, str):
        errors.append("a string")
        return None
    paths = tuple(TEMPLATE.findall(text))
    rest = TEMPLATE.sub("", text)
    if "{{" in rest or "}}" in rest:
        errors.append(f"unbalanced {{{{ }}}} in {text!r}")
        return None
    bad = [p for p in paths if not valid_path(p)]
    if bad:
        errors.append(f"not a path inside {{{{ }}}}: {', '.join(repr(b) for b in bad)} (write e.g. {{{{userId}}}})")
        return None
    return Template(text, paths)


def compile_source(raw: Any, errors: Errors, key: str) -> Source | None:
    """``traits.email`` | ``[traits.email, context.traits.email]`` | ``"{{a}} {{b}}"`` | a number or boolean |
    ``{from: ..., template: ..., value: ..., type:, required:, default:}``."""
    problems: list[str] = []
    if isinstance(raw, str):
        if "{{" in raw or "}}" in raw:
            t = compile_template(raw, problems)
            src = Source(template=t) if t else None
        elif valid_path(raw):
            src = Source(paths=(raw,))
        else:
            problems.append(f"not a path: {raw!r} (a literal string goes in {{value: ...}})")
            src = None
    elif isinstance(raw, list):
        bad = [p for p in raw if not valid_path(p)]
        if not raw or bad:
            problems.append("a list of paths, the first non-empty wins" + (f"; not a path: {bad[0]!r}" if bad else ""))
            src = None
        else:
            src = Source(paths=tuple(raw))
    elif isinstance(raw, (bool, int, float)) or raw is None:
        src = Source(value=raw, has_value=True)
    elif isinstance(raw, Mapping):
        sub: Errors = {}
        for k in raw:
            if k not in ("from", "template", "value", "type", "required", "default"):
                sub[str(k)] = ["unknown key (known: from, template, value, type, required, default)"]
        given = [k for k in ("from", "template", "value") if k in raw]
        if len(given) != 1:
            sub.setdefault("_schema", []).append("exactly one of from, template or value")
        paths: tuple[str, ...] = ()
        template = None
        if "from" in raw:
            got = raw["from"] if isinstance(raw["from"], list) else [raw["from"]]
            bad = [p for p in got if not valid_path(p)]
            if not got or bad:
                sub["from"] = ["a path or a list of paths" + (f"; not a path: {bad[0]!r}" if bad else "")]
            paths = tuple(got)
        if "template" in raw:
            tp: list[str] = []
            template = compile_template(raw["template"], tp)
            if tp:
                sub["template"] = tp
        if "type" in raw and raw["type"] not in TYPES:
            sub["type"] = [f"unknown type {raw['type']!r} (known: {', '.join(TYPES)})"]
        if "required" in raw and not isinstance(raw["required"], bool):
            sub["required"] = ["true or false"]
        if sub:
            errors[key] = sub
            return None
        src = Source(paths=paths, template=template, value=raw.get("value"), has_value="value" in raw,
                     type=raw.get("type"), required=raw.get("required", False), default=raw.get("default"))
    else:
        problems.append("a path, a list of paths, a template, a literal or a mapping with from / template / value")
        src = None
    if problems:
        errors[key] = problems
        return None
    return src


def compile_table(raw: Any, errors: Errors, key: str) -> tuple[tuple[str, Source], ...] | None:
    """A field table: target (dots make nested objects) -> source."""
    if not isinstance(raw, Mapping) or not raw:
        errors[key] = ["a mapping of target field to source (a path, [paths], a template or {value: ...})"]
        return None
    sub: Errors = {}
    out = []
    targets = [str(t) for t in raw]
    for target, value in raw.items():
        target = str(target)
        if not all(target.split(".")):
            sub[target] = ["not a field name (dots make nested objects: customer.email)"]
            continue
        clash = next((t for t in targets if t.startswith(target + ".")), None)
        if clash:
            sub[target] = [f"{target} is also the parent of {clash}"]
            continue
        src = compile_source(value, sub, target)
        if src is not None:
            out.append((target, src))
    if sub:
        errors[key] = sub
        return None
    return tuple(out)


def parse_statuses(raw: Any) -> tuple[tuple[int, int], ...]:
    """``[200, 404, "5xx", "500-504"]`` -> ranges. Raises ValueError."""
    if not isinstance(raw, list):
        raise ValueError('a list of statuses: 404, "4xx" or "500-504"')
    out = []
    for item in raw:
        m = _STATUS.match(str(item).strip()) if not isinstance(item, bool) else None
        if not m:
            raise ValueError(f'not a status: {item!r} (write 404, "4xx" or "500-504")')
        if m.group(1):
            low = high = int(m.group(1))
        elif m.group(2):
            low, high = int(m.group(2)) * 100, int(m.group(2)) * 100 + 99
        else:
            low, high = int(m.group(3)), int(m.group(4))
        if not 100 <= low <= high <= 599:
            raise ValueError(f"not a status range between 100 and 599: {item!r}")
        out.append((low, high))
    return tuple(out)


def compile_statuses(raw: Any, base: Mapping[str, tuple[tuple[int, int], ...]], errors: Errors,
                     key: str = "statuses") -> dict[str, tuple[tuple[int, int], ...]]:
    out = dict(base)
    if raw is None:
        return out
    if not isinstance(raw, Mapping):
        errors[key] = ["a mapping: done / retry / reject -> list of statuses"]
        return out
    sub: Errors = {}
    for k, v in raw.items():
        if k not in OUTCOMES:
            sub[str(k)] = [f"unknown key (known: {', '.join(OUTCOMES)})"]
            continue
        try:
            out[k] = parse_statuses(v)
        except ValueError as exc:
            sub[k] = [str(exc)]
    if sub:
        errors[key] = sub
    return out


REQUEST_KEYS = ("type", "event", "method", "url", "headers", "query", "body", "format", "batch", "statuses")


def compile_request(i: int, raw: Any, statuses: Mapping[str, Any], max_batch: int) -> tuple[RequestSpec | None, Errors]:
    errors: Errors = {}
    if not isinstance(raw, Mapping):
        return None, {"_schema": ["a request description: type, url, and method, body, batch, ... (see README)"]}
    for k in raw:
        if k not in REQUEST_KEYS:
            errors[str(k)] = [f"unknown key (known: {', '.join(REQUEST_KEYS)})"]
    kind = raw.get("type")
    if kind not in EVENT_TYPES:
        errors["type"] = [f"one of {', '.join(sorted(EVENT_TYPES))}" if "type" in raw else "missing (required)"]
    events = raw.get("event")
    if events is not None:
        events = [events] if isinstance(events, str) else events
        if kind != "track" or not isinstance(events, list) or not all(isinstance(e, str) and e for e in events):
            errors["event"] = ["an event name or a list of them, for type: track"]
    method = str(raw.get("method", "POST")).upper()
    if method not in METHODS:
        errors["method"] = [f"one of {', '.join(METHODS)}"]
    url = None
    if "url" not in raw:
        errors["url"] = ["missing (required): a path under base_url or a full URL, e.g. /contacts/{{userId}}"]
    else:
        problems: list[str] = []
        url = compile_template(raw["url"], problems)
        if problems:
            errors["url"] = problems
    headers = []
    if "headers" in raw:
        if not isinstance(raw["headers"], Mapping):
            errors["headers"] = ["a mapping of header name to value (templates allowed)"]
        else:
            sub: Errors = {}
            for name, value in raw["headers"].items():
                problems = []
                t = compile_template(str(value) if isinstance(value, (int, float)) else value, problems)
                if problems:
                    sub[str(name)] = problems
                elif t:
                    headers.append((str(name), t))
            if sub:
                errors["headers"] = sub
    query = compile_table(raw["query"], errors, "query") if "query" in raw else ()
    whole = raw.get("body") == "event"
    body = None
    if "body" in raw and not whole:
        body = compile_table(raw["body"], errors, "body")
    fmt = raw.get("format", "json")
    if fmt not in FORMATS:
        errors["format"] = [f"one of {', '.join(FORMATS)}"]
    batch = None
    if raw.get("batch") is not None:
        b = raw["batch"]
        sub = {}
        if not isinstance(b, Mapping):
            errors["batch"] = ["a mapping: {max: 100} for an array body, {max: 100, wrap: events} for {\"events\": [...]}"]
        else:
            for k in b:
                if k not in ("max", "wrap"):
                    sub[str(k)] = ["unknown key (known: max, wrap)"]
            size = b.get("max", max_batch)
            if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= max_batch:
                sub["max"] = [f"a whole number from 1 to {max_batch}"]
            if "wrap" in b and not (isinstance(b["wrap"], str) and b["wrap"]):
                sub["wrap"] = ["the body key the array goes under, e.g. events"]
            if fmt != "json":
                sub.setdefault("_schema", []).append("a batch is sent as JSON (format: json)")
            if sub:
                errors["batch"] = sub
            else:
                batch = Batching(size, b.get("wrap"))
    own = compile_statuses(raw.get("statuses"), statuses, errors)
    if errors:
        return None, errors
    return RequestSpec(i, kind, tuple(events) if events else None, method, url,  # type: ignore[arg-type]
                       tuple(headers), query or (), body, whole, fmt, batch, own), {}


def compile_requests(raw: Any, statuses: Any = None, max_batch: int = 500) -> tuple[RequestSpec, ...]:
    """Validate the ``requests`` list (and the destination-wide ``statuses``). Raises SpecError."""
    errors: Errors = {}
    base = compile_statuses(statuses, DEFAULT_STATUSES, errors)
    if errors:
        raise SpecError({"statuses": errors["statuses"]})
    if not isinstance(raw, list) or not raw:
        raise SpecError({"requests": ["a list of request descriptions, one per event type (and event name)"]})
    specs = []
    seen: dict[tuple[str, str | None], int] = {}
    for i, item in enumerate(raw):
        spec, errs = compile_request(i, item, base, max_batch)
        if errs:
            errors[i] = errs
            continue
        assert spec is not None
        for name in spec.events or (None,):
            key = (spec.type, name)
            if key in seen:
                what = f"{spec.type} {name!r}" if name else f"every {spec.type}"
                errors[i] = {"_schema": [f"requests[{seen[key]}] already describes {what}"]}
            seen[key] = i
        specs.append(spec)
    if errors:
        raise SpecError({"requests": errors})
    return tuple(specs)


def select(specs: tuple[RequestSpec, ...], event: Mapping[str, Any]) -> RequestSpec | None:
    """The description for an event: one naming its track event wins over one for its whole type."""
    kind = event.get("type")
    general = None
    for spec in specs:
        if spec.type != kind:
            continue
        if spec.events is None:
            general = general or spec
        elif event.get("event") in spec.events:
            return spec
    return general
