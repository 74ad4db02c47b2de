"""The demo's request reader: any JSON at all is either read into values within range, or refused
with a RequestError naming the field; never another exception."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taylorlr.demo.fields import MAX_BODY, Integer, Number, RequestError, Vector, read_request
from taylorlr.demo.panels import SCHEMAS

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=12,
)
FIELD_VALUES = st.dictionaries(
    st.sampled_from(["a", "w0", "grid", "at", "loss", "rule", "steps", "zz"]), JSON
)


def within(field, value):
    if isinstance(field, (Number, Integer)):
        return field.low <= value <= field.high and math.isfinite(value)
    if isinstance(field, Vector):
        return field.min_length <= len(value) <= field.max_length and all(
            field.low <= v <= field.high for v in value
        )
    return True


@settings(max_examples=100)
@given(panel=st.sampled_from(sorted(SCHEMAS)), given_fields=FIELD_VALUES)
def test_any_json_is_read_within_range_or_refused_naming_the_field(panel, given_fields):
    schema = SCHEMAS[panel]
    body = json.dumps(given_fields, allow_nan=True).encode()
    try:
        values = read_request(body, schema)
    except RequestError as error:
        assert error.field is None or error.field.split("[")[0] in given_fields
        return
    assert set(values) == set(schema) and set(given_fields) <= set(schema)
    for name, field in schema.items():
        assert within(field, values[name]), (name, values[name])
        assert name in given_fields or values[name] == field.default


@pytest.mark.parametrize(
    "body", [b"{" * 5000, b"[" * 100000, b'{"a": ' + b"9" * 5000 + b"}", b" " * (MAX_BODY + 1)]
)
def test_deep_long_or_huge_bodies_are_refused_with_a_request_error(body):
    with pytest.raises(RequestError):
        read_request(body, SCHEMAS["onestep"])
