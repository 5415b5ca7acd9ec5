"""A table's columns as the comparison sees them, from either side.

The source's come from its catalog (`read_columns`, exact types with modifiers); the
destination's from its OpenAPI document (`columns_from_openapi`, what PostgREST's schema cache
knows, which is what a write is checked against), optionally sharpened by its catalog when a
destination DSN is configured (`overlay`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import asyncpg

from connectors.postgres.errors import translate_errors
from streamer.destination.types import SqlType

COLUMNS_SQL = """
SELECT a.attname::text AS name,
       format_type(a.atttypid, a.atttypmod) AS type,
       NOT a.attnotnull AS nullable,
       (a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '') AS has_default
FROM pg_attribute a
WHERE a.attrelid = to_regclass(format('%I.%I', $1::text, $2::text))
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""


@dataclass(frozen=True)
class Column:
    """One column. `has_default` is None when unknown: OpenAPI drops expression defaults on
    numeric, boolean and json columns (docs/postgrest.md §5), so their absence proves nothing."""

    name: str
    type: SqlType
    nullable: bool = True
    has_default: bool | None = False

    @classmethod
    def of(cls, name: str, type_text: str, *, nullable: bool = True, has_default: bool | None = False) -> Column:
        """`Column.of("estado", "character varying(2)")`: a column from a `format_type` string."""
        return cls(name, SqlType.parse(type_text), nullable, has_default)


Columns = Mapping[str, Column]


def columns_from_openapi(definition: Mapping[str, Any]) -> dict[str, Column]:
    """The columns of a table's OpenAPI definition (`doc["definitions"][table]`), in order."""
    properties = definition.get("properties")
    if not isinstance(properties, Mapping):
        raise ValueError("the OpenAPI table definition has no 'properties'")
    required = set(definition.get("required") or ())
    found: dict[str, Column] = {}
    for name, prop in properties.items():
        if not isinstance(prop, dict):
            continue
        if "default" in prop:
            has_default: bool | None = True
        else:
            # A string-typed column shows any default; other types hide expression defaults.
            has_default = False if prop.get("type") == "string" else None
        found[name] = Column(name, SqlType.from_openapi(prop), name not in required, has_default)
    return found


def overlay(seen: Columns, catalog: Sequence[Column]) -> dict[str, Column]:
    """`seen` (the OpenAPI view) with exact types and defaults from the catalog. Columns only in
    the catalog stay out: PostgREST refuses them until its schema cache is reloaded."""
    exact = {c.name: c for c in catalog}
    merged: dict[str, Column] = {}
    for name, column in seen.items():
        known = exact.get(name)
        merged[name] = column if known is None else replace(known, nullable=column.nullable)
    return merged


async def read_columns(conn: asyncpg.Connection, schema: str, table: str) -> list[Column]:
    """The table's columns from `pg_attribute`; an empty list if the table does not exist."""
    with translate_errors(f"reading the columns of {schema}.{table}"):
        rows = await conn.fetch(COLUMNS_SQL, schema, table)
    return [Column.of(r["name"], r["type"], nullable=r["nullable"], has_default=r["has_default"]) for r in rows]
