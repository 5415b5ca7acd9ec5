"""Query-string parsing: filters, select, order, columns."""

from __future__ import annotations

import pytest

from devserver.errors import ApiError
from devserver.params import (
    Filter,
    OrderTerm,
    SelectItem,
    parse_columns,
    parse_filter,
    parse_limit,
    parse_offset,
    parse_order,
    parse_query,
    parse_select,
)


def test_comparison_filter() -> None:
    """`eq.5` is an equality filter with a text value."""
    assert parse_filter("id", "eq.5") == Filter("id", "eq", "5")


def test_negated_in_filter_with_quoted_items() -> None:
    """`not.in.(…)` keeps quoted commas inside one item."""
    assert parse_filter("name", 'not.in.(a,"b,c", d )') == Filter("name", "in", ("a", "b,c", "d"), True)


def test_is_filter_maps_to_sql_keywords() -> None:
    """`is.null` becomes the NULL keyword."""
    assert parse_filter("x", "is.null") == Filter("x", "is", "NULL")


def test_like_uses_stars_as_wildcards() -> None:
    """`like.*ab*` becomes `%ab%`."""
    assert parse_filter("x", "like.*ab*").value == "%ab%"


def test_unknown_operator_is_pgrst100() -> None:
    """An unknown operator is a 400 PGRST100."""
    with pytest.raises(ApiError) as caught:
        parse_filter("x", "zz.1")
    assert (caught.value.status, caught.value.code) == (400, "PGRST100")


def test_select_with_alias_and_cast() -> None:
    """`a,b:c,d::text` gives plain, aliased and cast items."""
    assert parse_select("a,b:c,d::text") == (
        SelectItem("a"),
        SelectItem("c", "b"),
        SelectItem("d", None, "text"),
    )


def test_cast_keeps_words_and_spaces() -> None:
    """PostgREST's cast grammar allows letters, digits, `_`, `$` and spaces (then trims)."""
    assert parse_select("x:score::double precision ") == (SelectItem("score", "x", "double precision"),)


@pytest.mark.parametrize("select", ["id::text[]", "id::int;drop", "id::text'x'", "id::", "id::int)--"])
def test_cast_outside_the_grammar_is_pgrst100(select: str) -> None:
    """Any other character in a cast is a parse error naming the select parameter."""
    with pytest.raises(ApiError) as caught:
        parse_select(select)
    assert (caught.value.status, caught.value.code) == (400, "PGRST100")
    assert caught.value.message.startswith(f'"failed to parse select parameter ({select})" (line 1, column ')


def test_nul_ends_a_field_name() -> None:
    """`a\\x00b` names `a` in filters, select and order, as PostgREST reads it."""
    assert parse_filter("a\x00b", "eq.1").column == "a"
    assert parse_select("a\x00b") == (SelectItem("a"),)
    assert parse_order("a\x00b.desc") == (OrderTerm("a", True),)


@pytest.mark.parametrize(
    ("value", "limit"), [("5", 5), (" 7 ", 7), ("0", 0), ("²", None), ("abc", None), ("1.5", None)]
)
def test_limit_is_read_like_haskell_read_maybe(value: str, limit: int | None) -> None:
    """A limit that is no (ASCII, decimal) integer is ignored rather than refused."""
    assert parse_limit(value) == limit


def test_negative_limit_is_pgrst103() -> None:
    """A negative limit is 416 PGRST103."""
    with pytest.raises(ApiError) as caught:
        parse_limit("-1")
    assert (caught.value.status, caught.value.code) == (416, "PGRST103")
    assert caught.value.details == "Limit should be greater than or equal to zero."


@pytest.mark.parametrize(("value", "offset"), [("3", 3), ("-4", 0), ("²", 0), ("x", 0)])
def test_offset_ignores_negatives_and_non_integers(value: str, offset: int) -> None:
    """A negative or unreadable offset starts at the first row."""
    assert parse_offset(value) == offset


@pytest.mark.parametrize("value", ["", " ", "a,", ",a"])
def test_empty_on_conflict_is_pgrst100(value: str) -> None:
    """`on_conflict=` needs at least one name: no silent fallback to the primary key."""
    with pytest.raises(ApiError) as caught:
        parse_query([("on_conflict", value)])
    assert caught.value.code == "PGRST100"
    assert caught.value.message == f'"failed to parse on_conflict parameter ({value})" (line 1, column 1)'


def test_order_with_direction_and_nulls() -> None:
    """`a.desc.nullslast,b` parses both terms."""
    assert parse_order("a.desc.nullslast,b") == (OrderTerm("a", True, "last"), OrderTerm("b"))


def test_columns_accepts_supabase_js_quoting() -> None:
    """supabase-js sends `columns="a","b"`."""
    assert parse_columns('"a","b"') == ("a", "b")


def test_empty_columns_is_pgrst100() -> None:
    """An empty `columns=` is rejected."""
    with pytest.raises(ApiError):
        parse_columns("")


def test_reserved_names_are_not_filters() -> None:
    """select/order/limit/offset/on_conflict/apikey are parameters, the rest filters."""
    params = parse_query(
        [("select", "id"), ("id", "gte.2"), ("limit", "5"), ("offset", "1"), ("apikey", "k"), ("on_conflict", "email")]
    )
    assert params.filters == (Filter("id", "gte", "2"),)
    assert (params.limit, params.offset, params.on_conflict) == (5, 1, ("email",))
