"""Type compatibility between a source column and a destination column."""

from __future__ import annotations

import pytest

from streamer.destination.types import SqlType, compatibility, narrowing, widened


def verdict(source: str, dest: str) -> str | None:
    found = compatibility(SqlType.parse(source), SqlType.parse(dest))
    return None if found is None else found.severity


@pytest.mark.parametrize(("source", "dest"), [
    ("integer", "bigint"), ("smallint", "integer"), ("bigint", "bigint"), ("integer", "numeric"),
    ("character varying(2)", "text"), ("character varying(2)", "character varying(10)"),
    ("numeric(12,2)", "numeric(14,2)"), ("numeric(12,2)", "numeric"), ("jsonb", "json"),
    ("text[]", "text[]"), ("real", "double precision"), ("integer", "double precision"),
])
def test_widening_or_equal_types_are_fine(source: str, dest: str) -> None:
    """Every source value lands unchanged: no finding."""
    assert verdict(source, dest) is None


@pytest.mark.parametrize(("source", "dest"), [
    ("bigint", "integer"), ("integer", "smallint"), ("numeric(12,2)", "integer"), ("double precision", "bigint"),
    ("boolean", "integer"), ("text[]", "integer"), ("uuid", "integer"), ("date", "boolean"),
])
def test_lossy_or_impossible_types_are_errors(source: str, dest: str) -> None:
    """Overflow, dropped decimals and unrelated types fail writes: an error."""
    assert verdict(source, dest) == "error"


@pytest.mark.parametrize(("source", "dest"), [
    ("text", "character varying(50)"), ("character varying(100)", "character varying(20)"),
    ("text", "character(2)"), ("timestamp with time zone", "timestamp without time zone"),
    ("timestamp without time zone", "timestamp with time zone"), ("numeric(12,2)", "numeric(10,2)"),
    ("numeric(12,2)", "numeric(12,4)"), ("numeric(12,4)", "numeric(12,2)"), ("numeric", "numeric(5,2)"),
    ("integer", "text"), ("text[]", "jsonb"), ("text[]", "text"), ("date", "timestamp with time zone"),
    ("bigint", "double precision"), ("integer", "numeric(5,0)"),
])
def test_values_that_may_be_refused_or_changed_are_warnings(source: str, dest: str) -> None:
    """Truncation risk, time zone handling and narrower numerics are warnings."""
    assert verdict(source, dest) == "warning"


def test_array_element_rules_apply_inside_arrays() -> None:
    """bigint[] into integer[] is an error about the elements."""
    found = compatibility(SqlType.parse("bigint[]"), SqlType.parse("integer[]"))
    assert found is not None and found.severity == "error" and found.reason.startswith("array elements")


def test_parse_splits_base_modifiers_and_array() -> None:
    """format_type strings parse into base, modifiers and array, and print back the same."""
    assert SqlType.parse("character varying(2)") == SqlType("character varying", (2,))
    assert SqlType.parse("numeric(12,2)") == SqlType("numeric", (12, 2))
    assert SqlType.parse("timestamp(3) with time zone") == SqlType("timestamp with time zone", (3,))
    assert SqlType.parse("text[]") == SqlType("text", (), True)
    for text in ("character varying(2)", "numeric(12,2)", "timestamp(3) with time zone", "text[]", "bigint"):
        assert str(SqlType.parse(text)) == text


def test_openapi_types_carry_max_length_and_unknown_numeric_precision() -> None:
    """maxLength becomes the modifier; numeric's precision is unknown, int64 means bigint."""
    assert SqlType.from_openapi({"format": "character varying", "maxLength": 2}) == SqlType("character varying", (2,))
    assert SqlType.from_openapi({"format": "numeric"}).modifiers is None
    assert SqlType.from_openapi({"format": "int64"}) == SqlType("bigint")
    assert SqlType.from_openapi({"format": "text"}) == SqlType("text")


def test_unknown_destination_precision_gives_no_finding() -> None:
    """A numeric seen through OpenAPI (precision unknown) is not flagged as narrower."""
    dest = SqlType.from_openapi({"type": "number", "format": "numeric"})
    assert compatibility(SqlType.parse("numeric(12,2)"), dest) is None


def test_narrowing_names_what_to_measure_and_widened_keeps_every_value() -> None:
    """A string into varchar(n) is measured by length, a number into numeric(p,s) by digits; the
    widened type holds both sides' values (never fewer integer digits or decimals than either)."""
    t = SqlType.parse
    assert narrowing(t("text"), t("character varying(2)")) == "length"
    assert narrowing(t("bigint"), t("numeric(6,2)")) == "digits"
    assert narrowing(t("text"), t("text")) is None and narrowing(t("text[]"), t("character varying(2)[]")) is None
    assert widened(t("text"), t("character varying(2)")) == "text"
    assert widened(t("character varying(40)"), t("character varying(2)")) == "character varying(40)"
    assert widened(t("numeric(12,2)"), t("numeric(6,3)")) == "numeric(13,3)"
    assert widened(t("integer"), t("numeric(6,2)")) == "numeric(12,2)"
    assert widened(t("numeric"), t("numeric(6,2)")) == "numeric"
