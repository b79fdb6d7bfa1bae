"""Customer rows -> exact customers_batch forms: columns, grouping, delimiters."""
from __future__ import annotations

import pytest

from destinations.stickystreet.profiles import import_form, plan_imports
from tests.destinations.stickystreet.conftest import settings

JANE = {"code": "1", "first_name": "jane", "last_name": "doe", "custom_date": "1970-07-14", "phone": "555-5555"}
JIM = {"code": "2", "first_name": "jim", "last_name": "mcdoe", "custom_date": "1966-07-28", "phone": "555-5556"}
LARRY = {"code": "3", "email": "larry@example.com"}
COMMON = {"type": "customers_batch", "overwrite_duplicates": "update", "campaigns_to_include": "898989889,13234545"}


def forms(rows, **overrides):
    conf = settings(**overrides)
    plan = plan_imports(
        list(enumerate(rows)),
        delimiter=conf["delimiter"],
        blank_is_change=conf["overwrite_duplicates"] == "update",
    )
    return [(imp.indexes, import_form(imp, conf)) for imp in plan.imports], plan.refused


def test_customers_with_the_same_columns_share_one_import_in_the_docs_column_order():
    made, refused = forms([JANE, JIM])
    assert refused == {}
    assert made == [(
        [0, 1],
        {
            **COMMON,
            "delimiter": "pipe",
            "profiles_header_1": "code",
            "profiles_header_2": "first_name",
            "profiles_header_3": "last_name",
            "profiles_header_4": "phone",
            "profiles_header_5": "custom_date",
            "profiles_data": "1|jane|doe|555-5555|1970-07-14\n2|jim|mcdoe|555-5556|1966-07-28\n",
        },
    )]


def test_with_update_customers_with_different_columns_go_in_separate_imports_so_nothing_is_blanked():
    made, _ = forms([JANE, LARRY, JIM])
    assert made == [
        ([0, 2], {**COMMON, "delimiter": "pipe", "profiles_header_1": "code", "profiles_header_2": "first_name",
                  "profiles_header_3": "last_name", "profiles_header_4": "phone", "profiles_header_5": "custom_date",
                  "profiles_data": "1|jane|doe|555-5555|1970-07-14\n2|jim|mcdoe|555-5556|1966-07-28\n"}),
        ([1], {**COMMON, "delimiter": "pipe", "profiles_header_1": "code", "profiles_header_2": "email",
               "profiles_data": "3|larry@example.com\n"}),
    ]


@pytest.mark.parametrize("mode", ["yes", "ignore"])
def test_with_yes_or_ignore_one_import_takes_the_union_of_columns_with_empty_cells(mode):
    made, _ = forms([JANE, LARRY], overwrite_duplicates=mode)
    assert made == [(
        [0, 1],
        {**COMMON, "overwrite_duplicates": mode, "delimiter": "pipe",
         "profiles_header_1": "code", "profiles_header_2": "first_name", "profiles_header_3": "last_name",
         "profiles_header_4": "email", "profiles_header_5": "phone", "profiles_header_6": "custom_date",
         "profiles_data": "1|jane|doe||555-5555|1970-07-14\n3|||larry@example.com||\n"},
    )]


def test_custom_fields_come_last_in_numeric_order_and_optional_parameters_are_sent_when_set():
    row = {"custom_field_10": "x", "code": "1", "custom_field_2": "y", "auto_add": "25", "card_number": "77"}
    made, _ = forms([row], card_number_generate=10, allow_undo=True, campaigns_to_include=["a", "b"])
    assert made == [([0], {
        "type": "customers_batch", "delimiter": "pipe", "overwrite_duplicates": "update",
        "campaigns_to_include": "a,b", "card_number_generate": "10", "allow_undo": "yes",
        "profiles_header_1": "code", "profiles_header_2": "card_number", "profiles_header_3": "auto_add",
        "profiles_header_4": "custom_field_2", "profiles_header_5": "custom_field_10",
        "profiles_data": "1|77|25|y|x\n",
    })]


def test_a_value_with_the_configured_delimiter_switches_the_batch_to_the_next_one():
    rows = [{"code": "1", "first_name": "Jane|Ann"}, {"code": "2", "first_name": "Jim"}]
    made, _ = forms(rows)
    assert [(i, f["delimiter"], f["profiles_data"]) for i, f in made] == [([0, 1], "comma", "1,Jane|Ann\n2,Jim\n")]


@pytest.mark.parametrize(
    "preferred, values, chosen",
    [
        ("pipe", ["a,b", "c|d"], ["tab"]),
        ("comma", ["a|b"], ["comma"]),
        ("comma", ["a,b"], ["pipe"]),
        ("comma", ["a,b", "c|d"], ["tab"]),
        ("tab", ["a\tb"], ["pipe"]),
        ("tab", ["a\tb", "c|d"], ["comma"]),
    ],
)
def test_the_delimiter_is_the_first_in_preference_order_that_no_value_contains(preferred, values, chosen):
    rows = [{"code": str(n), "first_name": v} for n, v in enumerate(values)]
    made, _ = forms(rows, delimiter=preferred)
    assert [f["delimiter"] for _, f in made] == chosen


def test_customers_that_cannot_share_a_delimiter_go_in_separate_imports():
    rows = [
        {"code": "1", "first_name": "a|b", "last_name": "c,d"},   # only tab
        {"code": "2", "first_name": "e\tf", "last_name": "g"},    # pipe or comma
        {"code": "3", "first_name": "h", "last_name": "i"},       # any
    ]
    made, refused = forms(rows)
    assert refused == {}
    assert [(i, f["delimiter"], f["profiles_data"]) for i, f in made] == [
        ([1, 2], "pipe", "2|e\tf|g\n3|h|i\n"),
        ([0], "tab", "1\ta|b\tc,d\n"),
    ]


def test_a_customer_no_delimiter_can_separate_is_refused_and_the_rest_imported():
    rows = [{"code": "1", "first_name": "a|b,c\td"}, {"code": "2", "first_name": "ok"}, {"code": "3", "city": "x\ny"}]
    made, refused = forms(rows)
    assert refused == {
        0: "the customer's values contain a pipe, a comma and a tab: no delimiter can separate its columns",
        2: "city contains a line break, which would split the customer's profiles_data line",
    }
    assert made == [([1], {**COMMON, "delimiter": "pipe", "profiles_header_1": "code",
                           "profiles_header_2": "first_name", "profiles_data": "2|ok\n"})]


def test_header_numbers_run_from_one_without_gaps_and_every_line_has_one_cell_per_header():
    rows = [dict(JANE), LARRY, {"code": "4", "city": "Oslo", "custom_field_3": "z"}]
    made, _ = forms(rows, overwrite_duplicates="yes", delimiter="tab")
    (_, form), = made
    numbers = sorted(int(k.rsplit("_", 1)[1]) for k in form if k.startswith("profiles_header_"))
    assert numbers == list(range(1, 9))
    lines = form["profiles_data"].splitlines()
    assert [len(line.split("\t")) for line in lines] == [8, 8, 8]
