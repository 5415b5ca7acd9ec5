"""Conversion of PostgreSQL text output (DateStyle=ISO, TimeZone=UTC) to JSON-friendly values."""

from __future__ import annotations

import pytest

from connectors.postgres import pgtypes as t
from connectors.postgres.pgtypes import RowConverter, convert_row, from_text, parse_array


@pytest.mark.parametrize(
    ("oid", "text", "expected"),
    [
        (t.BOOL, "t", True),
        (t.BOOL, "f", False),
        (t.INT2, "-32768", -32768),
        (t.INT4, "42", 42),
        (t.INT8, "9223372036854775807", 9223372036854775807),
        (t.OID, "16384", 16384),
        (t.FLOAT8, "1.5", 1.5),
        (t.FLOAT4, "-0.25", -0.25),
        (t.TEXT, "Ana", "Ana"),
        (t.VARCHAR, "", ""),
        (t.BPCHAR, "ab  ", "ab  "),
        (t.UUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        (t.DATE, "2024-01-31", "2024-01-31"),
        (t.BYTEA, "\\x00ff", "\\x00ff"),
        (999_999, "happy", "happy"),  # unknown (e.g. enum) types stay text
    ],
)
def test_scalars(oid: int, text: str, expected: object):
    """Each scalar type's text output converts to the documented Python value."""
    assert from_text(oid, text) == expected
    assert type(from_text(oid, text)) is type(expected)


@pytest.mark.parametrize("text", ["12.50", "0.000000000000000000001", "123456789012345678901234567890", "NaN"])
def test_numeric_stays_text(text: str):
    """numeric keeps its exact text, so no precision is lost on the way to JSON."""
    assert from_text(t.NUMERIC, text) == text


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_floats_stay_text(text: str):
    """NaN and infinities are not JSON numbers, so they stay strings."""
    assert from_text(t.FLOAT8, text) == text


def test_null_is_none_for_any_type():
    """A NULL column is None whatever its type."""
    assert from_text(t.INT4, None) is None and from_text(t.TEXT_ARRAY, None) is None


@pytest.mark.parametrize(
    ("oid", "text", "expected"),
    [
        (t.TIMESTAMPTZ, "2024-01-31 12:00:00+00", "2024-01-31T12:00:00+00:00"),
        (t.TIMESTAMPTZ, "2024-02-01 00:00:00.5+00", "2024-02-01T00:00:00.500000+00:00"),
        (t.TIMESTAMPTZ, "2024-01-31 21:00:00-03", "2024-02-01T00:00:00+00:00"),
        (t.TIMESTAMPTZ, "1900-01-01 00:00:00+00:09:21", "1899-12-31T23:50:39+00:00"),
        (t.TIMESTAMP, "2024-01-31 12:00:00.123456", "2024-01-31T12:00:00.123456"),
        (t.TIMESTAMPTZ, "infinity", "infinity"),
        (t.TIMESTAMP, "-infinity", "-infinity"),
        (t.TIMESTAMPTZ, "0044-03-15 12:00:00+00 BC", "0044-03-15 12:00:00+00 BC"),
        (t.TIMESTAMP, "12024-01-01 00:00:00", "12024-01-01 00:00:00"),
    ],
)
def test_timestamps_to_iso8601(oid: int, text: str, expected: str):
    """Timestamps become ISO 8601 (timestamptz in UTC); values Python cannot hold stay as sent."""
    assert from_text(oid, text) == expected


def test_json_and_jsonb_are_parsed():
    """json and jsonb columns become parsed JSON values."""
    assert from_text(t.JSONB, '{"k": [1, "x", null]}') == {"k": [1, "x", None]}
    assert from_text(t.JSON, "[]") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{}", []),
        ('{a,"b c",NULL}', ["a", "b c", None]),
        ('{"NULL",null}', ["NULL", None]),
        ('{"a\\"b","c\\\\d","x,y","{z}"}', ['a"b', "c\\d", "x,y", "{z}"]),
        ("{{1,2},{3,4}}", [["1", "2"], ["3", "4"]]),
        ("[0:1]={7,8}", ["7", "8"]),
        ('{"",""}', ["", ""]),
    ],
)
def test_parse_array(text: str, expected: list[object]):
    """Array literals parse with quoting, escapes, NULLs, nesting and explicit bounds."""
    assert parse_array(text) == expected


@pytest.mark.parametrize("text", ["{a,b", "a,b}", "{a}x", '{"a}'])
def test_parse_array_rejects_malformed(text: str):
    """Malformed array literals raise ValueError."""
    with pytest.raises(ValueError):
        parse_array(text)


def test_arrays_convert_their_elements():
    """Arrays of known element types convert each element, keeping NULLs."""
    assert from_text(t.TEXT_ARRAY, '{a,"b c",NULL}') == ["a", "b c", None]
    assert from_text(1007, "{1,NULL,3}") == [1, None, 3]
    assert from_text(1000, "{t,f}") == [True, False]
    assert from_text(3807, '{"{\\"a\\": 1}"}') == [{"a": 1}]


def test_convert_row_by_column_types():
    """A row converts column by column using the relation's type OIDs."""
    row = convert_row(
        {"id": "7", "active": "t", "tags": "{x}", "name": None},
        {"id": t.INT8, "active": t.BOOL, "tags": t.TEXT_ARRAY, "name": t.TEXT},
    )
    assert row == {"id": 7, "active": True, "tags": ["x"], "name": None}


def test_convert_row_refuses_binary_values():
    """Binary-format values are refused, since the slot is read in text format."""
    with pytest.raises(ValueError, match="binary"):
        convert_row({"id": b"\x00"}, {"id": t.INT8})


def test_a_compiled_row_converter_converts_as_convert_row_does():
    """A relation's compiled converter gives what `convert_row` gives, and leaves out what the
    row leaves out (an unchanged TOAST column)."""
    types = {"id": t.INT8, "name": t.TEXT, "ok": t.BOOL, "at": t.TIMESTAMPTZ, "n": t.NUMERIC, "tags": t.TEXT_ARRAY,
             "extra": t.JSONB, "f": t.FLOAT8, "day": t.DATE, "missing": t.INT4}
    row = {"id": "7", "name": "Ana", "ok": "f", "at": "2024-01-31 12:00:00.5+00", "n": "1.50", "tags": "{a,NULL}",
           "extra": '{"k": [1, 2.5]}', "f": "NaN", "day": "2024-02-29"}
    convert = RowConverter(types.items())
    assert convert(row) == convert_row(row, types)
    assert convert({**row, "name": None, "id": None})["id"] is None
    assert "missing" not in convert(row)


def test_a_compiled_row_converter_refuses_binary_values():
    with pytest.raises(ValueError, match="'name' arrived in binary"):
        RowConverter([("id", t.INT8), ("name", t.TEXT)])({"id": "1", "name": b"\x00"})
