"""Log lines an operator acts on, and their format (``log_format: text|json``).

Delivery logs one WARNING per dead letter and per retry-window give-up, and
an INFO line when a destination starts or stops failing. The lines are
written only after SETTLE stored the outcome, so a line always means a kept
dead letter, and the failing/recovered state lives in Redis
(``ns:failing:<dest>``), so with many workers each change is logged once.
Every value goes through the destination's Redactor: no secret reaches a log.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from destinations.base import Outcome, OutcomeStatus
from router.redact import Redactor

log = logging.getLogger("router.delivery")

#: LogRecord attributes that are not the caller's ``extra`` fields
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k not in _STANDARD and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class TextFormatter(logging.Formatter):
    """``TEXT_FORMAT`` with the time in UTC as ISO 8601 (``2026-12-01T18:00:00.123Z``), as every
    other time the router shows: the host's zone would make lines disagree with the dashboard."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


def configure(log_format: str = "text") -> None:
    """Apply ``log_format`` to the root logger's handlers (adding one on stderr when there is none)."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
        root.setLevel(logging.INFO)
    formatter: logging.Formatter = JsonFormatter() if log_format == "json" else TextFormatter()
    for handler in root.handlers:
        handler.setFormatter(formatter)


def is_vendor_failure(outcome: Outcome) -> bool:
    """An attempt the vendor failed (5xx, timeout, refused): not our rate limit, not a mapping error."""
    if outcome.status is OutcomeStatus.RETRY:
        return outcome.counts_as_attempt
    return outcome.status is OutcomeStatus.REJECTED and outcome.http_status is not None


def health(outcomes: Iterable[Outcome], scrub: Callable[[Outcome], Redactor], now_ms: int) -> tuple[str, str]:
    """A batch's verdict on its destination: ("ok", "") when anything was delivered,
    ("fail", note) when only the vendor's failures came back, ("", "") otherwise. ``scrub``: an
    outcome's redactor (its call's: the credentials a vendor may quote back too)."""
    failure = None
    for o in outcomes:
        if o.status is OutcomeStatus.DELIVERED:
            return "ok", ""
        if failure is None and is_vendor_failure(o):
            failure = o
    if failure is None:
        return "", ""
    note = {"since": now_ms, "reason": scrub(failure).text(failure.reason), "status": failure.http_status}
    return "fail", json.dumps(note, separators=(",", ":"), ensure_ascii=False)


class DeliveryLog:
    """A drain's log lines for one batch, held until the batch is settled."""

    def __init__(self, dest: str, redact: Redactor) -> None:
        self.dest = dest
        self.redact = redact
        self.pending: list[tuple[str, dict[str, Any]]] = []

    def dead_letter(self, message_id: str, outcome: Outcome, attempts: int, gave_up: bool,
                    scrub: Redactor | None = None) -> None:
        """``scrub``: the outcome's call's redactor, when it has one (its credentials too)."""
        fields = {
            "destination": self.dest,
            "reason": (scrub or self.redact).text(outcome.reason),
            "messageId": self.redact.text(str(message_id)),
            "status": outcome.http_status,
            "attempts": attempts,
        }
        self.pending.append(("gave_up" if gave_up else "dead_letter", fields))

    def flush(self, settled: bool, change: tuple[str, str]) -> None:
        """Write the batch's lines once SETTLE stored it; drop them when it did not (the batch
        went back to the buffer and will be judged again)."""
        pending, self.pending = self.pending, []
        if not settled:
            return
        for kind, f in pending:
            what = "gave up retrying" if kind == "gave_up" else "dead letter"
            log.warning(
                "%s at %s: %s (status %s, messageId %s, %d attempts)",
                what, f["destination"], f["reason"], f["status"] if f["status"] is not None else "-",
                f["messageId"], f["attempts"], extra={"event": kind, **f},
            )
        state, note = change
        if state == "failing":
            info = json.loads(note)
            log.info("%s started failing: %s (status %s)", self.dest, info["reason"],
                     info["status"] if info["status"] is not None else "-",
                     extra={"event": "destination_failing", "destination": self.dest,
                            "reason": info["reason"], "status": info["status"]})
        elif state == "recovered":
            info = json.loads(note) if note else {}
            since = info.get("since")
            failed_for = round(time.time() - since / 1000, 1) if since else 0.0
            log.info("%s delivers again after failing for %.0fs (last failure: %s)", self.dest, failed_for,
                     info.get("reason", "-"),
                     extra={"event": "destination_recovered", "destination": self.dest, "failed_seconds": failed_for})
