"""The event tester: what would this destination do with this event?

It validates the event as ingest does, says whether and why the router would
route it to the destination, runs the destination's mapper and shows the
exact vendor request(s) its client makes, secrets redacted. By default
nothing leaves the machine: a transport adapter mounted on the plugin's own
``requests`` sessions records each prepared request and answers it itself
(200, ``{}``), so the request shown is the one requests would have put on the
wire. With ``send`` the same adapter passes the request on, once, and
records the vendor's answer.

``POST /v1/admin/test/<destination>`` (admin token) and ``eventrouter test``.
"""
from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from typing import Any, Iterator

import requests
from flask import Blueprint, Response, current_app, jsonify, request
from marshmallow import ValidationError
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from destinations.base import Destination, Outcome, OutcomeStatus, Prepared
from router.admin import admin_only
from router.config import DestinationConfig
from router.delivery import jsonable
from router.errors import FOREIGN_FAULTS, DeliveryError
from router.exchanges import credentials, url_forms
from router.body import BadRequest, json_object, problems, size
from router.intake import MAX_EVENT_BYTES, Intake, Rejection, iso
from router.envelopes import subject_hash
from router.redact import REDACTED, Redactor
from router.routing import allowed, renamed
from router.runtime import Runtime
from router.schemas import EventSchema, error_list
from router.transforms import combine, send_in_parts, stage

bp = Blueprint("tester", __name__)

#: header names whose values are credentials whatever they contain
_SECRET_HEADER = re.compile(r"auth|key|token|secret|password|cookie", re.IGNORECASE)
DRY_RUN_NOTE = "dry run: nothing was sent; each request was answered locally with 200 {}"


class CaptureAdapter(HTTPAdapter):
    """Records every request a session sends; answers it itself unless ``passthrough``."""

    def __init__(self, passthrough: bool) -> None:
        super().__init__()
        self.passthrough = passthrough
        self.exchanges: list[tuple[requests.PreparedRequest, requests.Response | None]] = []
        #: a request reached the vendor: it answered, or it timed out reading the answer (a
        #: connection that failed carried nothing there)
        self.reached = False

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if self.passthrough:
            try:
                response = super().send(request, **kwargs)
            except requests.RequestException as exc:
                self.exchanges.append((request, None))
                self.reached = self.reached or isinstance(exc, requests.ReadTimeout)
                raise
            self.exchanges.append((request, response))
            self.reached = True
            return response
        self.exchanges.append((request, None))
        response = requests.Response()
        response.status_code = 200
        response.reason = "OK (dry run)"
        response._content = b"{}"
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        response.encoding = "utf-8"
        response.url = request.url or ""
        response.request = request
        return response


def sessions(obj: Any, depth: int = 0, seen: set[int] | None = None,
             packages: tuple[str, ...] = ()) -> Iterator[requests.Session]:
    """The requests sessions a plugin holds (its clients' HttpClient sessions), found by walking its attributes:
    of the objects of the host, the kit and the plugin's own package (a third-party plugin's too)."""
    packages = packages or ("destinations", "router", type(obj).__module__.split(".")[0])
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 5:
        return
    seen.add(id(obj))
    if isinstance(obj, requests.Session):
        yield obj
        return
    if isinstance(obj, dict):
        children: Any = obj.values()
    elif isinstance(obj, (list, tuple)):
        children = obj
    elif type(obj).__module__.split(".")[0] in packages and hasattr(obj, "__dict__"):
        children = vars(obj).values()
    else:
        return
    for child in children:
        yield from sessions(child, depth + 1, seen, packages)


class Scrubber:
    """The destination's Redactor, also for the URL- and form-encoded forms of its secrets."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = list(secrets)
        self.redactor = Redactor(url_forms(secrets))

    def text(self, value: str | None) -> str | None:
        return self.redactor.text(value)

    def headers(self, headers: Any) -> dict[str, str]:
        return {k: REDACTED if _SECRET_HEADER.search(k) else (self.text(str(v)) or "") for k, v in headers.items()}

    def value(self, value: Any) -> Any:
        return self.redactor.value(value, default=jsonable)


def _body_text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    if isinstance(body, str):
        return body
    return f"<streamed body of type {type(body).__name__}>"


def routing_checks(rt: Runtime, dc: DestinationConfig, event: dict[str, Any]) -> list[dict[str, Any]]:
    """Router.destinations_for, one reason per rule (router/routing.py), plus what ingest would drop."""
    kind = event["type"]
    plugin = dc.plugin
    checks = [{"check": "enabled", "ok": dc.enabled,
               "detail": "the destination is enabled" if dc.enabled else "the destination is disabled (enabled: false)"}]
    handles = kind in dc.handles
    checks.append({"check": "type", "ok": handles,
                   "detail": f"{dc.type} handles {kind} calls" if handles else f"{dc.type} does not handle {kind} calls"})
    if kind == "delete":
        checks.append({"check": "subscribe", "ok": True, "detail": "a delete reaches every destination that can delete"})
    else:
        ok = kind in dc.subscribe
        detail = f"subscribed to {kind}" if ok else f"not subscribed to {kind} (subscribe: {', '.join(sorted(dc.subscribe))})"
        checks.append({"check": "subscribe", "ok": ok, "detail": detail})
    if kind == "track":
        name = event.get("event", "")
        target = dc.rename.get(name)
        if dc.only is not None and name not in dc.only and target not in dc.only:
            checks.append({"check": "events", "ok": False, "detail": f"events.only does not list {name!r}"})
        elif name in dc.exclude:
            checks.append({"check": "events", "ok": False, "detail": f"events.except lists {name!r}"})
        else:
            detail = f"events.only lists {name!r}" if dc.only is not None else "no events.only / events.except excludes it"
            if target:
                detail += f"; renamed to {target!r} for this destination"
            checks.append({"check": "events", "ok": True, "detail": detail})
    if kind == "delete":
        checks.append({"check": "integrations", "ok": True, "detail": "a delete reaches it whatever the integrations object says"})
    else:
        checks.append(integrations_check(event.get("integrations") or {}, (dc.name, plugin.display_name, plugin.slug, *plugin.aliases)))
    checks += ingest_checks(rt, event)
    return checks


def integrations_check(integrations: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    ok = not integrations or allowed(integrations, names)
    for name in names:
        if name in integrations:
            return {"check": "integrations", "ok": ok, "detail": f"integrations[{name!r}] is {json.dumps(integrations[name])}"}
    if "All" in integrations:
        return {"check": "integrations", "ok": ok, "detail": f"integrations.All is {json.dumps(integrations['All'])}"}
    return {"check": "integrations", "ok": True, "detail": "the integrations object does not name it (All defaults to true)"}


def ingest_checks(rt: Runtime, event: dict[str, Any]) -> list[dict[str, Any]]:
    """Suppression and dedup: ingest would accept the event yet deliver it nowhere."""
    keys = rt.queue.keys
    uh = subject_hash(event)
    mid = event.get("messageId", "")
    sources = [s.name for s in rt.config.sources]
    pipe = rt.redis.pipeline(transaction=False)
    pipe.sismember(keys.suppressed, uh or "-")
    for s in sources:
        pipe.exists(f"{rt.config.namespace}:dedup:{s}:{mid}")
    suppressed, *seen = pipe.execute()
    out = [{"check": "suppression", "ok": not suppressed,
            "detail": "the user is suppressed (GDPR): ingest would drop the event" if suppressed else "the user is not suppressed"}]
    dup = [s for s, hit in zip(sources, seen) if hit]
    out.append({"check": "dedup", "ok": not dup,
                "detail": f"messageId {mid!r} was already received from {', '.join(dup)}: ingest would drop it as a duplicate"
                if dup else "messageId not seen within dedup_ttl"})
    return out


def validate(raw: Any) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    """The event as ingest would store it (validated and enriched), or the errors ingest would answer."""
    if not isinstance(raw, dict):
        return None, [{"path": "", "message": "the event must be a JSON object"}]
    found = problems(raw)  # first: NaN, lone surrogates and deep nesting break the size and the schema
    if found:
        return None, found
    n = size(raw)
    if n > MAX_EVENT_BYTES:
        return None, [{"path": "", "message": f"event is {n} bytes; the limit is {MAX_EVENT_BYTES} bytes (32 KB)"}]
    try:
        event = EventSchema().load(raw)
    except ValidationError as exc:
        return None, error_list(exc.messages)
    received = datetime.now(timezone.utc)
    try:
        Intake._enrich(event, received, iso(received))  # the same enrichment ingest applies
    except Rejection as exc:
        return None, exc.errors
    return event, []


def run_test(rt: Runtime, name: str, raw: Any, *, send: bool = False) -> dict[str, Any]:
    """The tester's report (see the module docstring). Raises KeyError for an unknown destination."""
    dc = rt.config.destination(name)
    event, errors = validate(raw)
    report: dict[str, Any] = {"destination": name, "type": dc.type, "valid": not errors}
    if event is None:
        report["errors"] = errors
        return report
    scrub = Scrubber(dc.secrets)
    checks = routing_checks(rt, dc, event)
    routed = all(c["ok"] for c in checks)
    failed = [c["detail"] for c in checks if not c["ok"]]
    report.update(event=scrub.value(event), routed=routed,
                  reason="it would be routed here" if routed else "not routed here: " + "; ".join(failed),
                  checks=checks)
    # its own instance, with a session we may mount on; a real send draws from the destination's shared rate limit
    throttle = rt.build(name).throttle if send and routed else None
    plugin: Destination = dc.plugin(dc.settings, throttle=throttle)
    adapter = CaptureAdapter(passthrough=send and routed)
    for session in sessions(plugin):
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    try:
        staged = stage(event, dc.filters, dc.transform, dc.transform_name)
        if dc.filters is not None or dc.transform is not None:
            # what the destination's filters and transform did, and the events they left for the mapper
            report["filters"] = [scrub.text(n) for n in staged.notes]
            report["staged"] = scrub.value(staged.events)
        if staged.outcome is not None:
            report.update(mapped=None, outcome=_outcome(staged.outcome, scrub), requests=[], sent=False)
            return report
        # as the drainer does: the events the mapper took are sent, each refused one is its part of the outcome
        prepared, refused = [], []
        for one in staged.events:
            seen = renamed(one, dc.rename)
            try:
                prepared.append(Prepared(seen, plugin.map(seen)))
                refused.append(None)
            except DeliveryError as exc:
                refused.append(Outcome.from_error(exc))
            except FOREIGN_FAULTS as exc:  # a mapper's bug: router/delivery.py makes it the event's rejection
                refused.append(Outcome(OutcomeStatus.REJECTED, f"mapping failed: {type(exc).__name__}: {exc}"))
        if not prepared:
            report.update(mapped=None, outcome=_outcome(combine([o for o in refused if o]), scrub), requests=[], sent=False)
            return report
        payloads = iter([p.payload for p in prepared])
        mapped = [None if o else next(payloads) for o in refused]
        report["mapped"] = scrub.value(mapped[0] if len(mapped) == 1 else mapped)
        try:
            sent = iter(send_in_parts(plugin.send, prepared, dc.batch_size))
            outcome = combine([o or next(sent) for o in refused])
        except FOREIGN_FAULTS as exc:  # a bug in a plugin is shown, not raised: this is a debugging tool
            outcome = Outcome(OutcomeStatus.RETRY, f"destination failed: {type(exc).__name__}: {exc}")
        report["requests"] = [exchange_report(req, resp, scrub) for req, resp in adapter.exchanges]
        report["sent"] = adapter.passthrough and adapter.reached
        if report["sent"]:
            count_tested(rt, name)
        if adapter.passthrough or any(refused):  # a part the mapper refused decides without the vendor
            # the vendor's error may quote the credentials the requests carried (a session's Basic auth)
            carried = [c for req, _ in adapter.exchanges for c in credentials(dict(req.headers))]
            report["outcome"] = _outcome(outcome, Scrubber(scrub.secrets + carried) if carried else scrub)
            if outcome.status is OutcomeStatus.RETRY and not outcome.counts_as_attempt and outcome.retry_after is not None:
                wait = max(1, math.ceil(outcome.retry_after))
                report["rate_limited"] = wait
                report["note"] = (f"rate limited: {name}'s rate limit is spent, try again in {wait} s"
                                  + ("" if not report["sent"] else " (the requests above were sent)"))
        else:
            report["note"] = DRY_RUN_NOTE if not send else "not sent: the router would not route this event here"
        return report
    finally:
        for session in sessions(plugin):
            session.close()


def count_tested(rt: Runtime, name: str) -> None:
    """A tester send reached the vendor: counted apart from deliveries (``eventrouter_tester_sends``)."""
    rt.redis.hincrby(rt.queue.keys.stats(name), "tested", 1)


def _outcome(o: Outcome, scrub: Scrubber) -> dict[str, Any]:
    return {"status": o.status.value, "reason": scrub.text(o.reason) or "", "http_status": o.http_status}


def exchange_report(req: requests.PreparedRequest, resp: requests.Response | None, scrub: Scrubber) -> dict[str, Any]:
    """One request (and the vendor's answer, when there was one) as the tester and the dashboard show it, redacted:
    also of the credentials the request's headers carried (a session's Basic auth), should the vendor echo them."""
    carried = credentials(dict(req.headers))
    if carried:
        scrub = Scrubber(scrub.secrets + carried)
    out: dict[str, Any] = {
        "method": req.method,
        "url": scrub.text(req.url),
        "headers": scrub.headers(req.headers),
        "body": scrub.text(_body_text(req.body)),
    }
    if resp is not None:
        out["response"] = {"status": resp.status_code, "headers": scrub.headers(resp.headers),
                           "body": scrub.text(resp.content.decode("utf-8", "replace"))}
    return out


def would_deliver(report: dict[str, Any]) -> bool:
    """True when the event is valid, routed, mapped and (when sent) delivered."""
    if not (report.get("valid") and report.get("routed") and report.get("mapped") is not None):
        return False
    return report.get("outcome", {}).get("status", "delivered") == "delivered"


@bp.post("/v1/admin/test/<name>")
@admin_only
def test_destination(name: str) -> tuple[Response, int]:
    rt: Runtime = current_app.extensions["eventrouter.runtime"]
    # parsed as every operator-API body is: bad bytes, deep nesting, NaN are a 400 with a reason
    body = json_object(request.get_data(cache=True))
    send = body.pop("send", False)
    if not isinstance(send, bool):
        raise BadRequest(400, '"send" must be true or false', "send")
    try:
        report = run_test(rt, name, body, send=send)
    except KeyError as exc:
        raise BadRequest(404, str(exc.args[0])) from None
    if report.get("rate_limited"):
        response = jsonify({**report, "errors": [{"path": "send", "message": report["note"]}]})
        response.headers["Retry-After"] = str(report["rate_limited"])
        return response, 429
    return jsonify(report), 200 if report["valid"] else 400
