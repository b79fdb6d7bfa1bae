"""Pure: one Segment event -> the request an ``http`` destination's description makes of it."""
from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any, Mapping

from destinations.http_api.spec import TEMPLATE, RequestSpec, Source, Template, select
from destinations.mapping import MISSING, get_path, is_empty
from destinations.errors import RejectedEvent, SkippedEvent

#: no header value may carry these (a CR/LF would start another header)
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: the largest power of ten a number field takes: Python writes no integer of more than 4300 digits as JSON
MAX_EXPONENT = 4000


@dataclass(frozen=True)
class HttpCall:
    """The mapped payload: which description, and what it made of the event (no credentials)."""

    request: int
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    query: tuple[tuple[str, str], ...]
    body: Any


def header_text(value: str) -> bool:
    """Whether ``value`` can go out in an HTTP header: no control character, nothing beyond ISO-8859-1."""
    return not CONTROL.search(value) and all(ord(c) < 256 for c in value)


def as_text(value: Any) -> str:
    """A value as text in a url, header, query or form: strings as they are, the rest as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def render(template: Template, event: Mapping[str, Any], quote: bool = False) -> str | None:
    """The template filled in from the event, or None when one of its paths has no value."""
    if any(is_empty(get_path(event, path)) for path in template.paths):
        return None

    def fill(m: Any) -> str:
        text = as_text(get_path(event, m.group(1).strip()))
        return urllib.parse.quote(text, safe="") if quote else text

    return TEMPLATE.sub(fill, template.text)


def _number(value: Any, target: str, origin: str) -> Decimal:
    if isinstance(value, bool):
        raise RejectedEvent(f"{target}: {value!r}{origin} is not a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise RejectedEvent(f"{target}: {value!r}{origin} is not a number") from None
    if not number.is_finite():
        raise RejectedEvent(f"{target}: {value!r}{origin} is not a number")
    if number.adjusted() > MAX_EXPONENT:
        raise RejectedEvent(f"{target}: {value!r}{origin} is too large a number")
    return number


def _time(value: Any, target: str, origin: str) -> datetime:
    """An ISO 8601 text or epoch seconds / milliseconds as an aware time in UTC."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value  # epoch milliseconds or seconds
        try:
            return datetime.fromtimestamp(seconds, timezone.utc)
        except (OverflowError, OSError, ValueError):
            pass
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
            # in UTC here: an offset can carry a time out of the years 1-9999 (OverflowError)
            return dt.astimezone(timezone.utc) if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
        except (OverflowError, ValueError):
            pass
    raise RejectedEvent(f"{target}: {value!r}{origin} is not an ISO 8601 time")


def convert(value: Any, kind: str | None, target: str, origin: str) -> Any:
    """A source value in the type the vendor wants; a value that can't be is the event's rejection."""
    if kind is None:
        return value
    if kind == "string":
        return as_text(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise RejectedEvent(f"{target}: {value!r}{origin} is not a boolean")
    if kind in ("iso_time", "unix_seconds", "unix_ms"):
        dt = _time(value, target, origin)
        if kind == "unix_seconds":
            return int(dt.timestamp())
        if kind == "unix_ms":
            return int(dt.timestamp() * 1000)
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    number = _number(value, target, origin)
    if kind == "cents":
        return int(number.scaleb(2).quantize(Decimal(1), rounding=ROUND_HALF_UP, context=Context(prec=MAX_EXPONENT + 10)))
    if kind == "integer":
        if number != number.to_integral_value():
            raise RejectedEvent(f"{target}: {value!r}{origin} is not a whole number")
        return int(number)
    return int(number) if number == number.to_integral_value() and not isinstance(value, float) else float(number)


def resolve(src: Source, event: Mapping[str, Any], target: str) -> Any:
    """A target field's value, or MISSING."""
    origin = ""
    value: Any = MISSING
    if src.has_value:
        value = src.value
    elif src.template is not None:
        text = render(src.template, event)
        value = MISSING if text is None else text
    else:
        for path in src.paths:
            found = get_path(event, path)
            if not is_empty(found):
                value, origin = found, f" (from {path})"
                break
    if value is MISSING and src.default is not None:
        value = src.default
    if value is MISSING or value is None:
        if src.required:
            looked = ", ".join(src.paths) or (src.template.text if src.template else "")
            raise RejectedEvent(f"{target}: no value (looked at {looked})")
        return MISSING
    return convert(value, src.type, target, origin)


def table(fields: tuple[tuple[str, Source], ...], event: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for target, src in fields:
        value = resolve(src, event, f"{where}.{target}")
        if value is MISSING:
            continue
        node = out
        *parents, leaf = target.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def map_event(event: dict[str, Any], specs: tuple[RequestSpec, ...]) -> HttpCall:
    spec = select(specs, event)
    if spec is None:
        what = f"track {event.get('event')!r}" if event.get("type") == "track" else f"{event.get('type')} calls"
        raise SkippedEvent(f"no request described for {what} (settings.requests)")
    where = f"requests[{spec.index}]"
    url = render(spec.url, event, quote=True)
    if url is None:
        missing = [p for p in spec.url.paths if is_empty(get_path(event, p))]
        raise RejectedEvent(f"{where}.url: no value for {', '.join(missing)}")
    # a "." or ".." segment is resolved on the way (no encoding survives): it would leave the described path
    if any(segment in (".", "..") for segment in re.split(r"[?#]", url, maxsplit=1)[0].split("/")):
        raise RejectedEvent(f"{where}.url: {url!r} has a . or .. segment (it would leave the described path)")
    headers = tuple((name, text) for name, t in spec.headers if (text := render(t, event)) is not None)
    for name, text in headers:
        if CONTROL.search(text):
            raise RejectedEvent(f"{where}.headers.{name}: contains a control character")
        if any(ord(c) > 255 for c in text):
            raise RejectedEvent(f"{where}.headers.{name}: not ISO-8859-1 text (HTTP headers carry no other)")
    query = tuple((k, as_text(v)) for k, v in table(spec.query, event, f"{where}.query").items()) if spec.query else ()
    if spec.whole_event:
        body: Any = event
    elif spec.body is not None:
        body = table(spec.body, event, f"{where}.body")
    else:
        body = None
    return HttpCall(spec.index, spec.method, url, headers, query, body)
