"""The OpenAPI document built from a literal snapshot."""

from __future__ import annotations

from devserver.openapi import build_openapi, json_type, openapi_default
from devserver.schema_cache import build_schema_cache

COLUMN_ROWS = [
    {
        "schema": "public",
        "table": "leads",
        "kind": "r",
        "table_description": None,
        "name": name,
        "data_type": dtype,
        "sql_type": dtype,
        "nullable": nullable,
        "default": default,
        "max_length": max_length,
        "enum": None,
        "description": None,
    }
    for name, dtype, nullable, default, max_length in [
        ("id", "bigint", False, "nextval('leads_id_seq'::regclass)", None),
        ("name", "character varying", False, "'x'::character varying", 50),
        ("tags", "text[]", True, None, None),
        ("meta", "jsonb", True, "'{}'::jsonb", None),
        ("owner", "uuid", True, None, None),
    ]
]
KEY_ROWS = [
    {
        "schema": "public",
        "table": "leads",
        "kind": "p",
        "columns": ["id"],
        "target_table": None,
        "target_columns": [None],
    },
    {
        "schema": "public",
        "table": "leads",
        "kind": "f",
        "columns": ["owner"],
        "target_table": "users",
        "target_columns": ["id"],
    },
]


def document() -> dict[str, object]:
    cache = build_schema_cache(COLUMN_ROWS, KEY_ROWS)
    return build_openapi(cache, "public", {"leads"}, host="h", base_path="/rest/v1/")


def test_types_follow_postgrest() -> None:
    """Strings, integers, arrays; json/jsonb have no type."""
    assert [json_type(t) for t in ("text", "bigint", "numeric", "boolean", "int4[]", "jsonb", "uuid")] == [
        "string",
        "integer",
        "number",
        "boolean",
        "array",
        None,
        "string",
    ]


def test_properties_carry_format_default_max_length_and_markers() -> None:
    """PK and FK notes, string defaults unquoted, expression defaults dropped."""
    props = document()["definitions"]["leads"]["properties"]  # type: ignore[index]
    assert props["id"] == {"type": "integer", "format": "bigint", "description": "Note:\nThis is a Primary Key.<pk/>"}
    assert props["name"] == {"type": "string", "format": "character varying", "default": "x", "maxLength": 50}
    assert props["tags"] == {"type": "array", "format": "text[]", "items": {"type": "string"}}
    assert props["meta"] == {"format": "jsonb"}
    assert "<fk table='users' column='id'/>" in props["owner"]["description"]


def test_required_lists_not_null_columns() -> None:
    """`required` holds the NOT NULL columns in column order."""
    assert document()["definitions"]["leads"]["required"] == ["id", "name"]  # type: ignore[index]


def test_invisible_tables_are_left_out() -> None:
    """Only tables in the visible set are documented."""
    cache = build_schema_cache(COLUMN_ROWS, KEY_ROWS)
    doc = build_openapi(cache, "public", set(), host="h", base_path="/")
    assert doc["definitions"] == {}


def test_numeric_json_defaults_are_kept() -> None:
    """A numeric default that is valid JSON is emitted as a number."""
    from devserver.schema_cache import Column

    assert openapi_default(Column("q", "integer", "integer", True, "42")) == 42
