"""Importing a JSON-lines file into Yespo's past_events: per-line report, summary, retries, the command."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from destinations.host import destination_of_type, with_host
from destinations.yespo import YespoDestination
from destinations.yespo.cli import cli as commands
from destinations.yespo.past_events import Importer, import_events
from destinations.yespo.settings import YespoSettings
from router.errors import Throttled
from router.host import RouterHost
from tests.destinations.yespo.fake_yespo import API_KEY, FakeYespo
from tests.fakes.http import Reply

def mounted() -> Any:
    """The commands as `eventrouter` mounts them, with a host that reads this test's config."""
    return with_host(commands, RouterHost())


def destination(vendor: FakeYespo, throttle: Any = None, **overrides: Any) -> YespoDestination:
    settings = YespoSettings().load({"base_url": vendor.base_url, "api_key": API_KEY, "timeout": 2, **overrides})
    return YespoDestination(settings, throttle=throttle)


def track(name: str, user: str = "u1", timestamp: str = "2023-03-22T14:30:00Z", **properties: Any) -> dict[str, Any]:
    return {
        "type": "track", "event": name, "userId": user, "messageId": f"m-{name}-{user}", "timestamp": timestamp,
        "context": {"traits": {"email": f"{user}@example.com"}}, "properties": properties,
    }


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines), encoding="utf-8")
    return path


def report_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


class Sleeps(list):
    """Records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def importer(vendor: FakeYespo, throttle: Any = None, sleep: Sleeps | None = None, **options: Any) -> Importer:
    dest = destination(vendor, throttle=throttle)
    return Importer(dest.client, dest.settings, sleep=Sleeps() if sleep is None else sleep, **options)


def test_every_line_gets_a_row_in_the_report_with_yespos_status(vendor: FakeYespo, tmp_path: Path) -> None:
    vendor.statuses = {"Unsegmented": "EVENT_SEGMENTATION_DISABLED"}
    source = write_lines(
        tmp_path / "history.jsonl",
        [
            track("Signed Up"),
            "",
            "{not json",
            {"type": "identify", "userId": "u1", "messageId": "i1", "traits": {}},
            {**track("Signed Up"), "userId": None, "context": {}, "messageId": "m-anon"},
            track("Unsegmented"),
            track("Order Completed", order_id="o1", total=258.0, currency="UAH", products=[{"sku": "s1", "price": 258}]),
        ],
    )
    summary = importer(vendor).run(source, progress=False)

    assert summary.report_path == tmp_path / "history.jsonl.report.csv"
    rows = report_rows(summary.report_path)
    assert [(r["line"], r["messageId"], r["eventTypeKey"], r["keyValue"], r["occurred"], r["status"]) for r in rows] == [
        ("1", "m-Signed Up-u1", "Signed Up", "u1@example.com", "2023-03-22T14:30", "ACCEPTED"),
        ("3", "", "", "", "", "INVALID_LINE"),
        ("4", "i1", "", "", "", "NOT_TRACK"),
        ("5", "m-anon", "", "", "", "REJECTED"),
        ("6", "m-Unsegmented-u1", "Unsegmented", "u1@example.com", "2023-03-22T14:30", "EVENT_SEGMENTATION_DISABLED"),
        ("7", "m-Order Completed-u1", "orderCreated", "u1@example.com", "2023-03-22T14:30", "ACCEPTED"),
    ]
    assert rows[3]["detail"] == "no email or userId for Yespo's keyValue"
    assert rows[2]["detail"] == "only track events are imported, this is 'identify'"
    assert (summary.total, summary.accepted, summary.all_accepted) == (6, 2, False)
    assert summary.text().splitlines()[0] == f"2 of 6 events accepted by Yespo; report: {summary.report_path}"
    [request] = vendor.requests
    assert request.path == "/api/v1/past_events"
    assert [e["eventTypeKey"] for e in request.json()["events"]] == ["Signed Up", "Unsegmented", "orderCreated"]


def test_events_go_in_requests_of_at_most_500_and_the_report_keeps_file_order(vendor: FakeYespo, tmp_path: Path) -> None:
    lines: list[Any] = [track("Viewed", user=f"u{i}") for i in range(1001)]
    lines.insert(500, "[]")  # a line that is not an event, in the middle of the first request's worth
    source = write_lines(tmp_path / "big.jsonl", lines)
    summary = importer(vendor).run(source, tmp_path / "out.csv", progress=False)
    assert [len(r.json()["events"]) for r in vendor.requests] == [500, 500, 1]
    rows = report_rows(tmp_path / "out.csv")
    assert [int(r["line"]) for r in rows] == list(range(1, 1003))
    assert rows[500]["status"] == "INVALID_LINE"
    assert summary.counts == {"ACCEPTED": 1001, "INVALID_LINE": 1}


def test_server_error_statuses_are_sent_again_until_accepted(vendor: FakeYespo, tmp_path: Path) -> None:
    vendor.statuses = {"Flaky": ["SERVER_ERROR", "SERVER_ERROR", "ACCEPTED"]}
    source = write_lines(tmp_path / "f.jsonl", [track("Steady"), track("Flaky")])
    sleeps = Sleeps()
    summary = importer(vendor, sleep=sleeps, backoff=0.5).run(source, progress=False)
    assert summary.all_accepted
    assert [[e["eventTypeKey"] for e in r.json()["events"]] for r in vendor.requests] == [["Steady", "Flaky"], ["Flaky"], ["Flaky"]]
    assert [s for s in sleeps if s >= 0.5] == [0.5, 1.0]


def test_server_error_that_persists_is_reported_after_the_last_attempt(vendor: FakeYespo, tmp_path: Path) -> None:
    vendor.statuses = {"Flaky": "SERVER_ERROR"}
    source = write_lines(tmp_path / "f.jsonl", [track("Flaky")])
    summary = importer(vendor, max_attempts=3).run(source, progress=False)
    [row] = report_rows(summary.report_path)
    assert (row["status"], row["detail"]) == ("SERVER_ERROR", "still SERVER_ERROR after 3 attempts")
    assert len(vendor.requests) == 3


def test_throttled_requests_wait_for_retry_after_and_are_sent_again(vendor: FakeYespo, tmp_path: Path) -> None:
    too_many = Reply(429, {"error": "Too many requests"}, headers={"Retry-After": "4"})
    vendor.script("POST", "/api/v1/past_events", too_many, too_many)
    source = write_lines(tmp_path / "t.jsonl", [track("A")])
    sleeps = Sleeps()
    summary = importer(vendor, sleep=sleeps).run(source, progress=False)
    assert summary.all_accepted
    assert len(vendor.requests) == 3
    assert sleeps.count(4.0) == 2


def test_a_request_that_keeps_failing_is_reported_per_line(vendor: FakeYespo, tmp_path: Path) -> None:
    vendor.script("POST", "/api/v1/past_events", *[Reply(503, "Service Unavailable")] * 2)
    source = write_lines(tmp_path / "t.jsonl", [track("A"), track("B")])
    summary = importer(vendor, max_attempts=2).run(source, progress=False)
    assert [(r["status"], r["detail"]) for r in report_rows(summary.report_path)] == [
        ("REQUEST_FAILED", "Yespo answered 503 (after 2 attempts)")
    ] * 2


def test_a_request_yespo_refuses_is_reported_with_its_answer(vendor: FakeYespo, tmp_path: Path) -> None:
    vendor.script("POST", "/api/v1/past_events", Reply(400, {"error": "Bad request"}))
    source = write_lines(tmp_path / "t.jsonl", [track("A")])
    summary = importer(vendor).run(source, progress=False)
    [row] = report_rows(summary.report_path)
    assert (row["status"], row["detail"]) == ("REQUEST_REJECTED", 'Yespo answered 400: {"error": "Bad request"}')


def test_our_shared_rate_limit_makes_the_import_wait_without_using_attempts(vendor: FakeYespo, tmp_path: Path) -> None:
    refusals = iter([True, True, True])

    def throttle(bucket: str | None = None) -> None:
        if next(refusals, False):
            raise Throttled("rate limit reached", retry_after=0.3)

    sleeps = Sleeps()
    source = write_lines(tmp_path / "t.jsonl", [track("A")])
    summary = importer(vendor, throttle=throttle, sleep=sleeps, max_attempts=1).run(source, progress=False)
    assert summary.all_accepted
    assert sleeps.count(0.3) == 3


def test_requests_draw_on_the_shared_past_events_rate_limit(vendor: FakeYespo, tmp_path: Path) -> None:
    source = write_lines(tmp_path / "t.jsonl", [track("A", user=f"u{i}") for i in range(1500)])
    buckets: list[str | None] = []
    importer(vendor, throttle=lambda bucket=None: buckets.append(bucket)).run(source, progress=False)
    assert len(vendor.requests) == 3
    assert buckets == ["past_events"] * 3


def test_import_events_uses_a_built_destinations_client_and_settings(vendor: FakeYespo, tmp_path: Path) -> None:
    source = write_lines(tmp_path / "t.jsonl", [track("Cart", cart={"id": 1})])
    summary = import_events(destination(vendor, api_version="v2"), source, progress=False)
    assert summary.all_accepted
    assert vendor.requests[0].path == "/api/v2/past_events"
    assert vendor.requests[0].json()["events"][0]["params"][-1] == {"name": "cart", "value": {"id": 1}}


@pytest.mark.parametrize(
    "configured, name, expected",
    [
        ([("y", "yespo"), ("w", "webhook")], None, "y"),
        ([("y1", "yespo"), ("y2", "yespo")], "y2", "y2"),
        ([("y1", "yespo"), ("y2", "yespo")], None, "name the destination with --destination (yespo destinations: y1, y2)"),
        ([("w", "webhook")], "w", "destination 'w' is of type webhook, not yespo (yespo destinations: none)"),
        ([("y", "yespo")], "nope", "no yespo destination named 'nope' (yespo destinations: y)"),
    ],
)
def test_the_destination_is_the_one_named_or_the_only_yespo_one(configured: list[tuple[str, str]], name: str | None, expected: str) -> None:
    destinations = [SimpleNamespace(name=n, type=t) for n, t in configured]
    try:
        assert destination_of_type(destinations, "yespo", name).name == expected
    except LookupError as exc:
        assert exc.args[0] == expected


def test_import_events_command_imports_through_the_configured_destination(
    vendor: FakeYespo, tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {
        "redis_url": redis_url,
        "data_dir": str(tmp_path / "data"),
        "destinations": [
            {"name": "shop", "type": "yespo", "settings": {"base_url": vendor.base_url, "api_key": "${YESPO_KEY}"}},
            {"name": "hook", "type": "webhook", "settings": {"url": vendor.base_url}},
        ],
    }
    (tmp_path / "eventrouter.yaml").write_text(json.dumps(config), encoding="utf-8")
    monkeypatch.setenv("EVENTROUTER_CONFIG", str(tmp_path / "eventrouter.yaml"))
    monkeypatch.setenv("YESPO_KEY", API_KEY)
    vendor.statuses = {"Future": "OCCURRED_TIME_IN_FUTURE"}
    source = write_lines(tmp_path / "h.jsonl", [track("A"), track("Future")])

    result = CliRunner().invoke(mounted(), ["import-events", str(source), "--report", str(tmp_path / "r.csv")])

    assert result.exit_code == 1, result.output
    assert f"1 of 2 events accepted by Yespo; report: {tmp_path / 'r.csv'}" in result.output
    assert "OCCURRED_TIME_IN_FUTURE: 1" in result.output
    assert [r["status"] for r in report_rows(tmp_path / "r.csv")] == ["ACCEPTED", "OCCURRED_TIME_IN_FUTURE"]


def test_import_events_command_refuses_a_destination_that_is_not_yespo(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {"redis_url": redis_url, "destinations": [{"name": "hook", "type": "webhook", "settings": {"url": "http://127.0.0.1:9"}}]}
    (tmp_path / "eventrouter.yaml").write_text(json.dumps(config), encoding="utf-8")
    monkeypatch.setenv("EVENTROUTER_CONFIG", str(tmp_path / "eventrouter.yaml"))
    source = write_lines(tmp_path / "h.jsonl", [track("A")])
    result = CliRunner().invoke(mounted(), ["import-events", str(source), "--destination", "hook"])
    assert result.exit_code == 2
    assert "destination 'hook' is of type webhook, not yespo" in result.output


def test_a_file_saved_with_a_byte_order_mark_imports_its_first_line(vendor: FakeYespo, tmp_path: Path) -> None:
    source = tmp_path / "history.jsonl"
    source.write_text(json.dumps(track("Signed Up")) + "\n", encoding="utf-8-sig")
    summary = importer(vendor).run(source, progress=False)
    assert summary.counts == {"ACCEPTED": 1}


def test_a_line_that_is_not_utf8_is_reported_and_the_other_lines_are_imported(vendor: FakeYespo, tmp_path: Path) -> None:
    source = tmp_path / "history.jsonl"
    source.write_bytes(json.dumps(track("Signed Up", user="j\u00f6rg"), ensure_ascii=False).encode("latin-1") + b"\n"
                       + json.dumps(track("Signed Up")).encode() + b"\n")
    summary = importer(vendor).run(source, progress=False)
    rows = report_rows(summary.report_path)
    assert [(r["line"], r["status"]) for r in rows] == [("1", "INVALID_LINE"), ("2", "ACCEPTED")]
    assert "UTF-8" in rows[0]["detail"]


def test_a_timestamp_out_of_range_in_utc_is_a_rejected_line_not_a_crash(vendor: FakeYespo, tmp_path: Path) -> None:
    source = write_lines(tmp_path / "history.jsonl", [track("Signed Up", timestamp="9999-12-31T23:59:59-05:00"), track("Signed Up")])
    summary = importer(vendor).run(source, progress=False)
    rows = report_rows(summary.report_path)
    assert [(r["line"], r["status"]) for r in rows] == [("1", "REJECTED"), ("2", "ACCEPTED")]
    assert "9999-12-31T23:59:59-05:00" in rows[0]["detail"]
