"""Importing history into Yespo: a JSON-lines file of Segment track events sent to
``/api/{v}/past_events`` (≤ 500 per request) straight through the client, not
the queue, with Yespo's status for every line written to a CSV report.

Each line is one Segment track event (``{"type": "track", "event": ...,
"userId": ..., "properties": ..., "timestamp": ...}``); it is mapped exactly
like a live event (order events become orderCreated) and ``occurred`` is its
timestamp in UTC.
"""
from __future__ import annotations

import csv
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from tqdm import tqdm

from destinations.yespo.client import PastEventStatus, YespoClient
from destinations.yespo.limits import PAST_EVENTS_PER_REQUEST, RATE_PAST_EVENTS
from destinations.yespo.mapper import past_event
from destinations.errors import RejectedEvent, RetryableError, Throttled

#: statuses of lines that never reached Yespo (Yespo's own are PastEventStatus)
INVALID_LINE = "INVALID_LINE"        # not a JSON object
NOT_TRACK = "NOT_TRACK"              # only track events are history
REJECTED = "REJECTED"                # the mapper refused it (reason in detail)
REQUEST_REJECTED = "REQUEST_REJECTED"  # Yespo refused the whole request (4xx)
REQUEST_FAILED = "REQUEST_FAILED"    # still failing after every attempt

REPORT_COLUMNS = ("line", "messageId", "eventTypeKey", "keyValue", "occurred", "status", "detail")


@dataclass
class Row:
    """One line of the input file and what became of it."""

    line: int
    message_id: str = ""
    body: dict[str, Any] | None = None
    status: str = ""
    detail: str = ""

    def report(self) -> tuple[Any, ...]:
        body = self.body or {}
        return (self.line, self.message_id, body.get("eventTypeKey", ""), body.get("keyValue", ""),
                body.get("occurred", ""), self.status, self.detail)


@dataclass
class Summary:
    report_path: Path
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def accepted(self) -> int:
        return self.counts[PastEventStatus.ACCEPTED.value]

    @property
    def all_accepted(self) -> bool:
        return self.accepted == self.total

    def text(self) -> str:
        lines = [f"{self.accepted} of {self.total} events accepted by Yespo; report: {self.report_path}"]
        lines += [f"  {status}: {n}" for status, n in sorted(self.counts.items()) if status != PastEventStatus.ACCEPTED]
        return "\n".join(lines)


def default_report_path(path: str | Path) -> Path:
    return Path(f"{path}.report.csv")


class Importer:
    """Sends a file's events in requests of ≤ 500, retrying what Yespo says may be retried."""

    def __init__(
        self,
        client: YespoClient,
        settings: dict[str, Any],
        *,
        max_attempts: int = 5,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.settings = settings
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.sleep = sleep

    def run(self, path: str | Path, report_path: str | Path | None = None, *, progress: bool = True) -> Summary:
        path = Path(path)
        summary = Summary(Path(report_path) if report_path else default_report_path(path))
        with summary.report_path.open("w", newline="", encoding="utf-8") as out, tqdm(
            total=count_lines(path), unit="event", desc="past events", disable=not progress
        ) as bar:
            writer = csv.writer(out)
            writer.writerow(REPORT_COLUMNS)
            for rows in self.chunks(read_rows(path, self.settings)):
                self.send([r for r in rows if not r.status])
                for row in rows:
                    writer.writerow(row.report())
                    summary.counts[row.status] += 1
                bar.update(len(rows))
        return summary

    @staticmethod
    def chunks(rows: Iterable[Row]) -> Iterator[list[Row]]:
        """Runs of rows, in file order, each holding at most one request's worth of sendable events."""
        chunk: list[Row] = []
        sendable = 0
        for row in rows:
            chunk.append(row)
            sendable += not row.status
            if sendable == PAST_EVENTS_PER_REQUEST:
                yield chunk
                chunk, sendable = [], 0
        if chunk:
            yield chunk

    def send(self, rows: Sequence[Row]) -> None:
        """Set each row's status: Yespo's, after re-sending SERVER_ERROR ones and failed requests."""
        todo = list(rows)
        attempts = 0
        while todo:
            try:
                # paced by the destination's shared past_events bucket (100/second)
                statuses = self.client.past_event_statuses([r.body for r in todo])  # type: ignore[misc]
            except Throttled as exc:
                # our own limiter, shared with the live workers: wait, no attempt used
                self.sleep(exc.retry_after or 1.0 / RATE_PAST_EVENTS)
                continue
            except RetryableError as exc:
                attempts += 1
                if attempts >= self.max_attempts:
                    for row in todo:
                        row.status, row.detail = REQUEST_FAILED, f"{exc.reason} (after {attempts} attempts)"
                    return
                self.sleep(exc.retry_after if exc.retry_after is not None else self.backoff * 2 ** (attempts - 1))
                continue
            except RejectedEvent as exc:
                for row in todo:
                    row.status, row.detail = REQUEST_REJECTED, f"{exc.reason}: {exc.response or ''}".strip()
                return
            for row, status in zip(todo, statuses):
                row.status, row.detail = status, ""
            todo = [r for r in todo if r.status == PastEventStatus.SERVER_ERROR]
            attempts += 1
            if todo:
                if attempts >= self.max_attempts:
                    for row in todo:
                        row.detail = f"still SERVER_ERROR after {attempts} attempts"
                    return
                self.sleep(self.backoff * 2 ** (attempts - 1))


def read_rows(path: Path, settings: dict[str, Any]) -> Iterator[Row]:
    """Each non-blank line as a Row: with the mapped body, or already given a local status.
    Lines are decoded one by one, so a line that is not UTF-8 is that line's problem only."""
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            try:
                line = raw.decode("utf-8-sig")  # a byte order mark (Windows editors) is not part of the line
            except UnicodeDecodeError as exc:
                yield Row(number, status=INVALID_LINE, detail=f"not UTF-8: {exc.reason} at byte {exc.start}")
                continue
            if line.strip():
                yield parse_row(number, line, settings)


def parse_row(number: int, line: str, settings: dict[str, Any]) -> Row:
    try:
        event = json.loads(line)
    except ValueError as exc:
        return Row(number, status=INVALID_LINE, detail=f"not JSON: {exc}")
    if not isinstance(event, dict):
        return Row(number, status=INVALID_LINE, detail="not a JSON object")
    row = Row(number, message_id=str(event.get("messageId") or ""))
    if event.get("type") != "track":
        row.status, row.detail = NOT_TRACK, f"only track events are imported, this is {event.get('type')!r}"
        return row
    try:
        row.body = past_event(event, settings)
    except RejectedEvent as exc:
        row.status, row.detail = REJECTED, exc.reason
    return row


def count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


def import_events(
    destination: Any, path: str | Path, report_path: str | Path | None = None, *, progress: bool = True, **options: Any
) -> Summary:
    """Import a file through a built YespoDestination: its client, settings and shared rate limit.
    ``options`` go to :class:`Importer`."""
    return Importer(destination.client, destination.settings, **options).run(path, report_path, progress=progress)
