"""Query-string parsing: filters, select, order, columns."""

from __future__ import annotations

import pytest

from connectors.postgrest.server.errors import ApiError
from connectors.postgrest.server.params import (
    Filter,
    OrderTerm,
    SelectItem,
    parse_columns,
    parse_filter,
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
