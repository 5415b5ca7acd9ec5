"""SQL building from a literal schema-cache table."""

from __future__ import annotations

import pytest

from devserver.params import Filter, QueryParams, SelectItem
from devserver.query import (
    InsertSpec,
    build_delete,
    build_insert,
    build_select,
    build_update,
    conflict_target,
    ident,
    literal,
    select_list,
)
from devserver.schema_cache import Column, Table


def col(name: str, sql_type: str, default: str | None = None) -> Column:
    return Column(name, sql_type, sql_type, True, default)


ITEMS = Table(
    "public",
    "items",
    "r",
    {
        "id": col("id", "bigint", "nextval('items_id_seq'::regclass)"),
        "name": col("name", "text"),
        "qty": col("qty", "integer", "0"),
    },
    primary_key=("id",),
)


def test_insert_unpacks_the_body_with_a_typed_column_list() -> None:
    """The body is one json parameter expanded by json_to_recordset with cached types."""
    stmt = build_insert(ITEMS, InsertSpec(("id", "name"), True), '[{"id":1,"name":"a"}]')
    assert 'json_to_recordset(pgrst_payload.json_data) AS _("id" bigint, "name" text)' in stmt.sql
    assert 'INSERT INTO "public"."items"("id", "name")' in stmt.sql
    assert "ON CONFLICT" not in stmt.sql
    assert stmt.args == ('[{"id":1,"name":"a"}]',)


def test_merge_updates_every_inserted_column_and_counts_inserts() -> None:
    """merge-duplicates: DO UPDATE SET for each column, with the pgrst.inserted counters."""
    spec = InsertSpec(("id", "name"), True, resolution="merge-duplicates")
    sql = build_insert(ITEMS, spec, "[]").sql
    assert 'ON CONFLICT("id") DO UPDATE SET "id" = EXCLUDED."id", "name" = EXCLUDED."name"' in sql
    assert sql.count("pgrst.inserted', (coalesce") == 2


def test_ignore_duplicates_does_nothing_on_conflict() -> None:
    """ignore-duplicates: DO NOTHING and no counters."""
    sql = build_insert(ITEMS, InsertSpec(("id",), True, resolution="ignore-duplicates"), "[]").sql
    assert 'ON CONFLICT("id") DO NOTHING' in sql
    assert "pgrst.inserted', (coalesce" not in sql


def test_no_pk_and_no_on_conflict_means_plain_insert() -> None:
    """Resolution on a table without PK or on_conflict has no conflict target."""
    table = Table("public", "log", "r", {"a": col("a", "text")})
    assert conflict_target(table, InsertSpec(("a",), True, resolution="merge-duplicates")) == ()


def test_missing_default_merges_defaults_into_each_element() -> None:
    """missing=default wraps elements with jsonb_build_object(defaults) || elem."""
    spec = InsertSpec(("id", "name", "qty"), True, missing_default=True)
    sql = build_insert(ITEMS, spec, "[]").sql
    assert "jsonb_build_object('id', nextval('items_id_seq'::regclass), 'qty', 0) || elem" in sql
    assert "jsonb_to_recordset" in sql


def test_object_body_uses_json_to_record() -> None:
    """A single-object body is unpacked by json_to_record."""
    assert "json_to_record(" in build_insert(ITEMS, InsertSpec(("id",), False), "{}").sql


def test_select_applies_filters_order_limit_and_max_rows() -> None:
    """Filter values are text parameters cast to the column type; limit is capped."""
    params = QueryParams(
        select=(SelectItem("id"),),
        filters=(Filter("id", "in", ("1", "2")), Filter("qty", "gte", "3")),
        limit=5000,
    )
    stmt = build_select(ITEMS, params, max_rows=1000, exact_count=True)
    assert '"public"."items"."id" = ANY($1::text[]::bigint[])' in stmt.sql
    assert '"public"."items"."qty" >= $2::text::integer' in stmt.sql
    assert "LIMIT 1000 OFFSET 0" in stmt.sql
    assert "(SELECT pg_catalog.count(*)" in stmt.sql
    assert stmt.args == (["1", "2"], "3")


def test_delete_returns_rows_only_with_representation() -> None:
    """DELETE RETURNING 1 by default, the whole row with representation."""
    params = QueryParams(filters=(Filter("id", "eq", "1"),))
    assert "RETURNING 1" in build_delete(ITEMS, params, False).sql
    assert 'RETURNING "public"."items".*' in build_delete(ITEMS, params, True).sql


def test_cast_is_emitted_as_cast_as() -> None:
    """`col::type` becomes `CAST(col AS type)`, aliased to the column (or the given alias)."""
    items = (SelectItem("id", None, "text"), SelectItem("qty", "q", "double precision"))
    assert select_list(items, "t") == 'CAST(t."id" AS text) AS "id", CAST(t."qty" AS double precision) AS "q"'


def test_a_cast_outside_the_grammar_never_reaches_sql() -> None:
    """select_list refuses a cast the parser would have refused, rather than paste it."""
    with pytest.raises(ValueError):
        select_list((SelectItem("id", None, "text) FROM secret --"),), "t")


def test_empty_patch_selects_nothing() -> None:
    """PATCH `{}` has nothing to SET: an empty selection from the table, no parameters."""
    stmt = build_update(ITEMS, (), QueryParams(), "{}", representation=True)
    assert 'SELECT "public"."items".* FROM "public"."items" WHERE false' in stmt.sql
    assert "UPDATE" not in stmt.sql
    assert stmt.args == ()


def test_identifiers_end_at_a_nul() -> None:
    """Like PostgREST's escapeIdent, a NUL ends the identifier; quotes are doubled."""
    assert ident('a"b\x00c') == '"a""b"'


def test_literal_is_safe_without_standard_conforming_strings() -> None:
    """Quotes are doubled; a backslash switches to E'' with backslashes doubled."""
    assert literal("it's") == "'it''s'"
    assert literal("a\\'b") == "E'a\\\\''b'"
