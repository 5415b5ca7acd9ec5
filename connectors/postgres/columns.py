"""The captured table's columns from the catalog, for the event format's schema
(schemas/debezium.py): name, type OID, nullability, and whether it is in the primary key."""

from __future__ import annotations

import asyncpg

from connectors.postgres.errors import translate_errors
from schemas.debezium import Column

COLUMNS_SQL = """
SELECT a.attname::text AS name, a.atttypid::bigint AS type_oid, NOT a.attnotnull AS optional,
       coalesce(a.attnum = ANY (i.indkey), false) AS key
FROM pg_attribute a
LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
WHERE a.attrelid = to_regclass(format('%I.%I', $1::text, $2::text))
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""


async def table_columns(conn: asyncpg.Connection, schema: str, table: str) -> tuple[Column, ...]:
    """The table's columns in table order; empty when the table does not exist."""
    with translate_errors(f"reading the columns of {schema}.{table}"):
        rows = await conn.fetch(COLUMNS_SQL, schema, table)
    return tuple(Column(r["name"], r["type_oid"], r["optional"], r["key"]) for r in rows)
