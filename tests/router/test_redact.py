"""The redactor keeps secrets out of stored JSON and leaves it JSON."""
from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from router.redact import Redactor

#: no lowercase letter: a secret inside "[redacted]" would be found again in every replacement
secrets = st.lists(st.text("0123456789XYZ-", min_size=4, max_size=8), min_size=1, max_size=3)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text("0123456789XYZ- é\"\\", max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text("0123456789XYZ", max_size=6), inner, max_size=4),
    max_leaves=20,
)


def leaves(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from leaves(v)
    else:
        yield value


@settings(max_examples=300, deadline=None)
@given(values, secrets)
def test_redacted_json_is_json_with_no_secret_in_a_string_and_no_number_that_is_one(value, found):
    redactor = Redactor(found)
    text = json.dumps(value, ensure_ascii=False)
    out = json.loads(redactor.json_text(text))
    for leaf in leaves(out):
        if isinstance(leaf, str):
            assert not [s for s in found if s in leaf]
        elif isinstance(leaf, (int, float)) and not isinstance(leaf, bool):
            assert json.dumps(leaf) not in found


def test_a_number_that_only_holds_a_secrets_digits_stays_a_number():
    redactor = Redactor(["4321"])
    text = '{"r":1764321000,"code":4321,"note":"a 4321 b","k4321":-4321}'
    assert json.loads(redactor.json_text(text)) == {"r": 1764321000, "code": "[redacted]", "note": "a [redacted] b",
                                                     "k[redacted]": "[redacted]"}
