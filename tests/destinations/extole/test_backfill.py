"""The existing-customer upload: window, most recent action per customer, Extole's event file, rejects, counts."""
from __future__ import annotations

import csv
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from destinations.extole import ExtoleDestination
from destinations.extole import backfill as bf

NOW = datetime(2026, 11, 23, 10, 0, 0, tzinfo=timezone.utc)
HEADER = "event_name,required_labels,email,partner_user_id,first_name,last_name,event_time,partner_conversion_id,cart_value"


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def orders(tmp_path: Path, rows: list[list[Any]]) -> Path:
    return write_csv(tmp_path / "orders.csv", ["email", "customer_id", "first_name", "last_name", "order_id", "total", "date"], rows)


def counts(p: bf.Plan) -> dict[str, int]:
    s = p.summary
    return {"read": s.read, "too_old": s.too_old, "superseded": s.superseded, "rejected": s.rejected, "kept": s.kept}


def test_only_the_last_12_months_are_kept_to_the_second(tmp_path):
    path = orders(tmp_path, [
        ["a@example.com", "", "", "", "A1", "10", "2025-11-23T09:59:59Z"],
        ["b@example.com", "", "", "", "B1", "10", "2025-11-23T10:00:00Z"],
        ["c@example.com", "", "", "", "C1", "10", "2026-11-01 08:00:00 -0700"],
    ])
    p = bf.plan(path, now=NOW)
    assert [a.fields["email"] for a in p.actions] == ["b@example.com", "c@example.com"]
    assert counts(p) == {"read": 3, "too_old": 1, "superseded": 0, "rejected": 0, "kept": 2}


def test_months_sets_the_window(tmp_path):
    path = orders(tmp_path, [
        ["a@example.com", "", "", "", "A1", "10", "2026-06-01"],
        ["b@example.com", "", "", "", "B1", "10", "2026-09-01"],
    ])
    assert counts(bf.plan(path, now=NOW, months=3))["too_old"] == 1


@pytest.mark.parametrize(
    "now, months, cutoff",
    [
        (datetime(2026, 3, 31, tzinfo=timezone.utc), 1, datetime(2026, 2, 28, tzinfo=timezone.utc)),
        (datetime(2025, 2, 28, tzinfo=timezone.utc), 12, datetime(2024, 2, 28, tzinfo=timezone.utc)),
        (datetime(2024, 2, 29, tzinfo=timezone.utc), 12, datetime(2023, 2, 28, tzinfo=timezone.utc)),
        (datetime(2026, 1, 15, tzinfo=timezone.utc), 13, datetime(2024, 12, 15, tzinfo=timezone.utc)),
    ],
)
def test_the_window_counts_calendar_months(now, months, cutoff):
    assert bf.months_before(now, months) == cutoff


def test_only_each_customers_most_recent_action_is_kept_email_ignoring_case(tmp_path):
    path = orders(tmp_path, [
        ["Ann@Example.com", "", "Ann", "", "A1", "10", "2026-01-01"],
        ["ann@example.com", "", "Ann", "", "A2", "20", "2026-05-01"],
        ["ANN@example.com", "", "Ann", "", "A3", "30", "2026-03-01"],
        ["", "cust-7", "Bo", "", "B1", "5", "2026-02-01"],
        ["", "cust-7", "Bo", "", "B2", "6", "2026-04-01"],
        ["", "cust-8", "Cy", "", "C1", "7", "2026-04-01"],
    ])
    p = bf.plan(path, now=NOW)
    assert [a.fields["partner_conversion_id"] for a in p.actions] == ["A2", "B2", "C1"]
    assert counts(p) == {"read": 6, "too_old": 0, "superseded": 3, "rejected": 0, "kept": 3}


def test_on_the_same_time_the_later_row_wins(tmp_path):
    path = orders(tmp_path, [
        ["a@example.com", "", "", "", "A1", "10", "2026-05-01"],
        ["a@example.com", "", "", "", "A2", "10", "2026-05-01"],
    ])
    assert [a.fields["partner_conversion_id"] for a in bf.plan(path, now=NOW).actions] == ["A2"]


def test_a_rejected_newest_row_leaves_the_customers_older_valid_action(tmp_path):
    path = orders(tmp_path, [
        ["a@example.com", "", "Ann", "", "A1", "10", "2026-01-01"],
        ["a@example.com", "", "N" * 39, "", "A2", "10", "2026-05-01"],
    ])
    p = bf.plan(path, now=NOW)
    assert [a.fields["partner_conversion_id"] for a in p.actions] == ["A1"]
    assert p.rejects == [(3, "first_name is 39 characters long; Extole allows at most 38", p.rejects[0][2])]


def test_the_event_file_has_extoles_exact_header_name_quoting_and_utf8(tmp_path):
    path = orders(tmp_path, [
        ["zoe@example.com", "c-1", "Zoë", 'O"Brien, Jr', "1001", "20.3", "2026-06-19T10:12:53-07:00"],
        ["", "c-2", "", "", "1002", "100", "2026-06-20"],
        ["bo@example.com", "", "", "", "", "", "2026-06-21T00:00:00Z"],
    ])
    out = bf.write_event_file(bf.plan(path, now=NOW), tmp_path / "out", "2147483647", now=NOW)
    assert out.name == "2147483647_conversion_20261123100000.csv"
    synthetic = bf.synthetic_conversion_id("conversion", "email:bo@example.com")
    assert out.read_bytes().decode("utf-8") == (
        HEADER + "\r\n"
        'conversion,existing_customer,zoe@example.com,c-1,Zoë,"O""Brien, Jr",2026-06-19T10:12:53-0700,1001,20.30\r\n'
        "conversion,existing_customer,,c-2,,,2026-06-20T00:00:00+0000,1002,100.00\r\n"
        f"conversion,existing_customer,bo@example.com,,,,2026-06-21T00:00:00+0000,{synthetic},\r\n"
    )
    assert len(synthetic) <= 38


def test_the_event_name_and_client_id_name_the_file(tmp_path):
    path = orders(tmp_path, [["a@example.com", "", "", "", "A1", "10", "2026-05-01"]])
    out = bf.write_event_file(bf.plan(path, now=NOW, event="registration"), tmp_path, "acme", now=NOW)
    assert out.name == "acme_registration_20261123100000.csv"
    assert out.read_text().splitlines()[1].startswith("registration,existing_customer,")
    with pytest.raises(bf.BackfillError, match="client id"):
        bf.event_file_name("acme/../x", "conversion", NOW)


def test_rows_that_break_extoles_rules_go_to_the_rejects_file_with_row_number_and_reason(tmp_path):
    path = orders(tmp_path, [
        ["ok@example.com", "", "", "", "A1", "10", "2026-05-01"],
        ["", "", "No", "Id", "A2", "10", "2026-05-01"],
        ["x@example.com", "", "", "", "o" * 39, "10", "2026-05-01"],
        ["y@example.com", "", "", "", "A4", "ten", "2026-05-01"],
        ["z@example.com", "", "", "", "A5", "10", ""],
        ["w@example.com", "", "", "", "A6", "10", "23/05/2026"],
        ["old@example.com", "", "", "", "A7", "ten", "2020-01-01"],
    ])
    p = bf.plan(path, now=NOW)
    rejects = bf.write_rejects(p, tmp_path / "rejects.csv")
    with rejects.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["row", "reason", "email", "customer_id", "first_name", "last_name", "order_id", "total", "date"]
    assert [r[:2] for r in rows[1:]] == [
        ["3", "Extole needs an email or a partner_user_id (userId); the event has neither"],
        ["4", "partner_conversion_id is 39 characters long; Extole allows at most 38"],
        ["5", "cart_value 'ten' is not a number"],
        ["6", "no date (event_time): can't tell whether it is in the window"],
        ["7", "date '23/05/2026' is not understood; use ISO 8601 or --date-format"],
    ]
    assert rows[1][2:] == ["", "", "No", "Id", "A2", "10", "2026-05-01"]
    assert counts(p) == {"read": 7, "too_old": 1, "superseded": 0, "rejected": 5, "kept": 1}


def test_no_rejects_file_when_nothing_is_rejected(tmp_path):
    path = orders(tmp_path, [["a@example.com", "", "", "", "A1", "10", "2026-05-01"]])
    assert bf.write_rejects(bf.plan(path, now=NOW), tmp_path / "r.csv") is None
    assert not (tmp_path / "r.csv").exists()


def test_a_date_format_reads_non_iso_dates(tmp_path):
    path = orders(tmp_path, [["a@example.com", "", "", "", "A1", "10", "23/05/2026"]])
    [action] = bf.plan(path, now=NOW, date_format="%d/%m/%Y").actions
    assert action.when == datetime(2026, 5, 23, tzinfo=timezone.utc)


def test_common_export_columns_are_found_without_a_mapping(tmp_path):
    path = write_csv(
        tmp_path / "shopify.csv",
        ["Name", "Email", "Customer ID", "Billing First Name", "Total", "Created at", "Order Number"],
        [["#1001", "a@example.com", "77", "Ann", "12.5", "2026-05-01 10:00:00 +0200", "1001"]],
    )
    p = bf.plan(path, now=NOW)
    assert p.columns == {
        "email": "Email",
        "partner_user_id": "Customer ID",
        "first_name": "Billing First Name",
        "partner_conversion_id": "Order Number",
        "cart_value": "Total",
        "event_time": "Created at",
    }
    assert p.actions[0].fields == {
        "email": "a@example.com",
        "partner_user_id": "77",
        "first_name": "Ann",
        "partner_conversion_id": "1001",
        "cart_value": "12.50",
    }


def test_the_column_mapping_can_be_overridden(tmp_path):
    rows = [["b@example.com", "R-1", "2026-05-01", "ignored@example.com"]]
    path = write_csv(tmp_path / "x.csv", ["Buyer", "Ref", "When", "email"], rows)
    p = bf.plan(path, now=NOW, columns=bf.parse_mapping(["email=Buyer", "partner_conversion_id = Ref", "event_time=when"]))
    assert p.actions[0].fields == {"email": "b@example.com", "partner_conversion_id": "R-1"}


@pytest.mark.parametrize(
    "mapping, message",
    [
        (["email=Nope"], "column 'Nope' for email is not in the input"),
        (["mail=Buyer"], "unknown field(s) in the column mapping: mail"),
    ],
)
def test_a_bad_column_mapping_stops_before_reading_rows(tmp_path, mapping, message):
    path = write_csv(tmp_path / "x.csv", ["Buyer", "When"], [["b@example.com", "2026-05-01"]])
    with pytest.raises(bf.BackfillError) as exc:
        bf.plan(path, now=NOW, columns=bf.parse_mapping(mapping))
    assert message in str(exc.value)


def test_an_input_without_a_date_or_customer_column_is_refused_with_how_to_fix(tmp_path):
    with pytest.raises(bf.BackfillError, match="--map event_time=COLUMN"):
        bf.plan(write_csv(tmp_path / "a.csv", ["email"], [["a@example.com"]]), now=NOW)
    with pytest.raises(bf.BackfillError, match="--map email=COLUMN"):
        bf.plan(write_csv(tmp_path / "b.csv", ["date"], [["2026-01-01"]]), now=NOW)


def test_json_lines_are_read_with_the_same_defaults_and_bad_lines_counted(tmp_path):
    path = tmp_path / "orders.jsonl"
    path.write_text(
        "\n".join([
            json.dumps({"email": "a@example.com", "order_id": 1, "total": 9.5, "created_at": "2026-05-01T00:00:00Z"}),
            "",
            "{not json",
            json.dumps({"userId": "u-9", "orderNumber": "N9", "amount": "3", "timestamp": 1777593600000}),
            json.dumps(["a list"]),
        ]) + "\n",
        encoding="utf-8",
    )
    p = bf.plan(path, now=NOW)
    assert [a.fields for a in p.actions] == [
        {"email": "a@example.com", "partner_conversion_id": "1", "cart_value": "9.50"},
        {"partner_user_id": "u-9", "partner_conversion_id": "N9", "cart_value": "3.00"},
    ]
    assert p.actions[1].when == datetime(2026, 5, 1, tzinfo=timezone.utc)
    assert [(n, r[:21]) for n, r, _ in p.rejects] == [(3, "row is not valid JSON"), (5, "row is not a JSON obj")]
    assert counts(p) == {"read": 4, "too_old": 0, "superseded": 0, "rejected": 2, "kept": 2}
    rejects = bf.write_rejects(p, tmp_path / "r.csv").read_text(encoding="utf-8").splitlines()
    assert rejects[0] == "row,reason,record" and rejects[1].startswith("3,row is not valid JSON")


def test_a_csv_row_with_the_wrong_number_of_values_is_rejected(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("email,date\na@example.com,2026-05-01,extra\nb@example.com,2026-05-01\n", encoding="utf-8")
    p = bf.plan(path, now=NOW)
    assert p.rejects[0][:2] == (2, "row has 3 values for 2 columns")
    assert counts(p) == {"read": 2, "too_old": 0, "superseded": 0, "rejected": 1, "kept": 1}


def test_queued_events_are_segment_tracks_the_destination_maps_like_the_file(tmp_path):
    path = orders(tmp_path, [["Ann@example.com", "c-1", "Ann", "Lee", "1001", "20.3", "2026-06-19T10:12:53-07:00"]])
    p = bf.plan(path, now=NOW)
    [event] = bf.segment_events(p)
    assert event == {
        "type": "track",
        "event": "conversion",
        "messageId": event["messageId"],
        "timestamp": "2026-06-19T10:12:53-07:00",
        "userId": "c-1",
        "properties": {
            "required_labels": "existing_customer",
            "email": "Ann@example.com",
            "first_name": "Ann",
            "last_name": "Lee",
            "partner_conversion_id": "1001",
            "cart_value": "20.30",
        },
        "context": {"library": {"name": "eventrouter-extole-backfill"}},
    }
    assert event["messageId"] == bf.segment_events(bf.plan(path, now=NOW))[0]["messageId"]
    dest = ExtoleDestination(ExtoleDestination.settings_schema().load({"api_key": "k"}))
    data = dest.map(event)["body"]["data"]
    file_row = dict(zip(HEADER.split(","), bf.event_row("conversion", p.actions[0])))
    assert data == {k: v for k, v in file_row.items() if k != "event_name"}


def test_enqueue_pushes_in_chunks_and_reports_progress():
    pushed: list[int] = []
    progress: list[int] = []
    events = [{"n": i} for i in range(2500)]
    assert bf.enqueue(events, lambda chunk: pushed.append(len(chunk)) or len(chunk), progress=progress.append) == 2500
    assert pushed == progress == [1000, 1000, 500]


class _Dest:
    def __init__(self, name: str, type: str) -> None:
        self.name, self.type = name, type


def test_the_extole_destination_is_the_named_one_or_the_only_one():
    dests = [_Dest("hook", "webhook"), _Dest("ext", "extole")]
    assert bf.extole_destination(dests).name == "ext"
    assert bf.extole_destination(dests, "ext").name == "ext"
    with pytest.raises(bf.BackfillError, match="of type webhook"):
        bf.extole_destination(dests, "hook")
    with pytest.raises(bf.BackfillError, match="extole destinations: ext, ext2"):
        bf.extole_destination([*dests, _Dest("ext2", "extole")])


def test_a_100000_row_export_is_planned_and_written_in_seconds_with_exact_counts(tmp_path):
    path = tmp_path / "big.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["email", "customer_id", "first_name", "last_name", "order_id", "total", "created_at"])
        for i in range(100_000):
            if i % 10 == 0:
                date = "2024-01-15T12:00:00Z"  # too old
            else:
                date = f"2026-{1 + i % 9:02d}-{1 + i % 28:02d}T12:00:00Z"
            email = f"c{i % 40_000}@example.com" if i % 97 else ""  # every 97th row has only an id
            name = "N" * 39 if i % 1000 == 1 else "Ann"  # rejected
            w.writerow([email, f"id-{i % 40_000}", name, "Lee", f"o-{i}", f"{i % 500}.5", date])
    started = time.monotonic()
    p = bf.plan(path, now=NOW)
    out = bf.write_event_file(p, tmp_path / "out", "acme", now=NOW)
    elapsed = time.monotonic() - started
    assert elapsed < 20, f"took {elapsed:.1f}s"
    expected_too_old = 10_000
    expected_rejected = sum(1 for i in range(100_000) if i % 10 and i % 1000 == 1)
    valid = [i for i in range(100_000) if i % 10 and i % 1000 != 1]
    customers = {f"email:c{i % 40_000}@example.com" if i % 97 else f"id:id-{i % 40_000}" for i in valid}
    assert counts(p) == {
        "read": 100_000,
        "too_old": expected_too_old,
        "superseded": len(valid) - len(customers),
        "rejected": expected_rejected,
        "kept": len(customers),
    }
    assert sum(1 for _ in out.open(encoding="utf-8")) == len(customers) + 1


def test_a_json_line_without_a_mapped_optional_column_is_loaded_without_that_field(tmp_path):
    path = tmp_path / "orders.jsonl"
    path.write_text(
        json.dumps({"email": "a@example.com", "date": "2026-10-01", "price": "5"}) + "\n"
        + json.dumps({"email": "b@example.com", "date": "2026-10-01"}) + "\n"
    )
    p = bf.plan(path, now=NOW, columns={"cart_value": "price"})
    assert counts(p) == {"read": 2, "too_old": 0, "superseded": 0, "rejected": 0, "kept": 2}
    assert [a.fields.get("cart_value") for a in p.actions] == ["5.00", None]


def test_a_csv_field_too_large_for_the_csv_reader_is_a_rejected_row_not_a_crash(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("email,date,first_name\na@example.com,2026-10-01," + "x" * 200_000 + "\nb@example.com,2026-10-01,B\n")
    p = bf.plan(path, now=NOW)
    assert counts(p) == {"read": 2, "too_old": 0, "superseded": 0, "rejected": 1, "kept": 1}
    assert p.rejects[0][0] == 2 and "field larger than field limit" in p.rejects[0][1]
    assert [a.fields["email"] for a in p.actions] == ["b@example.com"]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_an_input_that_is_not_utf8_is_refused_with_a_clear_error_not_a_traceback(tmp_path, suffix):
    path = tmp_path / f"orders{suffix}"
    text = "email,date\nj\xf6rg@example.com,2026-10-01\n" if suffix == ".csv" else '{"email": "j\xf6rg@example.com", "date": "2026-10-01"}\n'
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(bf.BackfillError, match="is not UTF-8"):
        bf.plan(path, now=NOW)


def test_a_duplicate_column_name_reads_the_column_the_mapping_chose(tmp_path):
    path = write_csv(tmp_path / "orders.csv", ["email", "date", "email"], [["a@example.com", "2026-10-01", ""]])
    p = bf.plan(path, now=NOW)
    assert counts(p)["kept"] == 1 and p.actions[0].fields["email"] == "a@example.com"


def test_a_rejected_csv_row_with_too_many_values_keeps_them_all_in_the_rejects_file(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("email,date,first_name\na@example.com,2026-10-01,Smith, John\n", encoding="utf-8")
    p = bf.plan(path, now=NOW)
    rejects = bf.write_rejects(p, tmp_path / "rejects.csv")
    assert rejects is not None
    lines = rejects.read_text(encoding="utf-8").splitlines()
    assert lines[1] == "2,row has 4 values for 3 columns,a@example.com,2026-10-01,Smith, John"


def test_epoch_seconds_and_milliseconds_in_a_csv_are_read_as_dates(tmp_path):
    path = write_csv(tmp_path / "orders.csv", ["email", "date"], [
        ["a@example.com", "1790000000"],       # 2026-09-21T14:13:20Z
        ["b@example.com", "1790000000123"],
        ["c@example.com", "20261001"],         # ISO 8601 basic, not epoch
    ])
    p = bf.plan(path, now=NOW)
    assert p.rejects == []
    assert [a.when for a in p.actions] == [
        datetime(2026, 9, 21, 14, 13, 20, tzinfo=timezone.utc),
        datetime(2026, 9, 21, 14, 13, 20, 123000, tzinfo=timezone.utc),
        datetime(2026, 10, 1, tzinfo=timezone.utc),
    ]


def test_months_reaching_before_year_1_is_an_option_error_not_a_traceback(tmp_path):
    path = orders(tmp_path, [["a@example.com", "", "", "", "A1", "10", "2026-10-01"]])
    with pytest.raises(bf.BackfillError, match="--months"):
        bf.plan(path, now=NOW, months=30_000)
