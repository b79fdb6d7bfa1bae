"""Sticky Street's XML and JSON answers -> success / error / malformed."""
from __future__ import annotations

import pytest

from destinations.stickystreet.response import Answer, MalformedAnswer, parse_answer

#: the vendor's own success example, verbatim: its closing tags are written as opening ones
DOC_SUCCESS = """<response status="success">
<batch status="imported">
<customers>
<new>2<new>
<updated>1<updated>
<customers>
</batch>
</response>"""


@pytest.mark.parametrize(
    "body, answer",
    [
        pytest.param(
            '<response status="success"><batch status="imported"><customers><new>2</new>'
            "<updated>1</updated></customers></batch></response>",
            Answer(True, counts={"new": 2, "updated": 1}),
            id="xml import success",
        ),
        pytest.param(
            '<?xml version="1.0" encoding="UTF-8"?>\n<response status="success">\n'
            '<customer status="deleted"><code>u-1</code></customer>\n</response>\n',
            Answer(True),
            id="xml delete success with declaration",
        ),
        pytest.param(DOC_SUCCESS, Answer(True, counts={"new": 2, "updated": 1}), id="the doc's malformed example"),
        pytest.param(
            '<response status="error">\n<error>Error message</error>\n</response>',
            Answer(False, "Error message"),
            id="xml error",
        ),
        pytest.param(
            '<response status="error"><error>Bad campaign</error><error>  Bad\n  header </error></response>',
            Answer(False, "Bad campaign; Bad header"),
            id="xml errors joined",
        ),
        pytest.param(
            '<response status="error"><error>Invalid <b>key<error></response>',
            Answer(False, "Invalid"),
            id="xml error with unclosed tags, read leniently",
        ),
        pytest.param(
            '{"response": {"status": "success", "batch": {"status": "imported", '
            '"customers": {"new": "3", "updated": 0}}}}',
            Answer(True, counts={"new": 3, "updated": 0}),
            id="json wrapped success",
        ),
        pytest.param(
            '{"@attributes": {"status": "success"}, "batch": {"customers": {"new": 1}}}',
            Answer(True, counts={"new": 1}),
            id="json from php's xml encoding",
        ),
        pytest.param('{"status": "error", "error": "Error message"}', Answer(False, "Error message"), id="json error"),
        pytest.param(
            '{"response": {"status": "error", "error": ["A", {"message": "B"}]}}',
            Answer(False, "A; B"),
            id="json error list",
        ),
    ],
)
def test_answers_are_read_as_success_or_the_vendors_error(body, answer):
    assert parse_answer(body.encode()) == answer


@pytest.mark.parametrize(
    "body, lenient, why",
    [
        ("", True, "an empty body"),
        ("OK", True, "neither XML nor JSON"),
        ("<br />\n<b>Fatal error</b>: Allowed memory size exhausted", True, "does not parse"),
        ("<html><body>502 Bad Gateway</body></html>", True, "root is not <response"),
        ('<response status="success"><batch status="imported"><customers><new>2</new>', True, "does not parse"),
        ('<response status="pending"></response>', True, "root is not <response"),
        ('<response><new>1</new></response>', True, "root is not <response"),
        (DOC_SUCCESS, False, "does not parse"),
        ('{"response": {"status": "success"', True, "JSON that does not parse"),
        ('{"response": {"new": 2}}', True, "without status success or error"),
        ("[1, 2]", True, "not an object"),
    ],
)
def test_anything_else_is_malformed_never_a_success(body, lenient, why):
    with pytest.raises(MalformedAnswer, match=why):
        parse_answer(body, lenient_xml=lenient)
