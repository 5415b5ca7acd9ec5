"""The schema cache: tables, columns, keys, loaded by the authenticator (reference §4).

The snapshot is immutable; `SchemaCacheHolder` swaps in a new one when the listener asks for a
reload, so requests between a DDL commit and the reload see the stale cache, like PostgREST.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from connectors.postgrest.server.errors import schema_cache_not_loaded

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Column:
    """One column. `data_type` is `format_type` without typmod (OpenAPI `format`); `sql_type`
    keeps the typmod and is what the json_to_recordset column list uses."""

    name: str
    data_type: str
    sql_type: str
    nullable: bool
    default: str | None = None
    max_length: int | None = None
    enum: tuple[str, ...] = ()
    description: str | None = None


@dataclass(frozen=True)
class ForeignKey:
    """A single-column foreign key (multi-column ones are not shown in OpenAPI)."""

    column: str
    target_table: str
    target_column: str


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    kind: str  # pg_class.relkind: r, v, m, f, p
    columns: Mapping[str, Column]  # in attnum order
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    description: str | None = None

    @property
    def is_view(self) -> bool:
        return self.kind in ("v", "m")


@dataclass(frozen=True)
class SchemaCache:
    tables: Mapping[tuple[str, str], Table] = field(default_factory=dict)

    def table(self, schema: str, name: str) -> Table | None:
        return self.tables.get((schema, name))

    def in_schema(self, schema: str) -> list[Table]:
        return [t for (s, _), t in sorted(self.tables.items()) if s == schema]


class Fetcher(Protocol):
    async def fetch(self, query: str, *args: Any) -> list[Any]: ...


COLUMNS_SQL = """
SELECT n.nspname AS schema, c.relname AS table, c.relkind::text AS kind,
       obj_description(c.oid, 'pg_class') AS table_description,
       a.attname AS name,
       format_type(a.atttypid, NULL) AS data_type,
       format_type(a.atttypid, a.atttypmod) AS sql_type,
       NOT a.attnotnull AS nullable,
       CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END AS "default",
       CASE WHEN a.atttypid IN ('bpchar'::regtype, 'varchar'::regtype) AND a.atttypmod > 0
            THEN a.atttypmod - 4 END AS max_length,
       (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
          FROM pg_enum e WHERE e.enumtypid = a.atttypid) AS enum,
       col_description(c.oid, a.attnum) AS description
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
  AND NOT c.relispartition
ORDER BY n.nspname, c.relname, a.attnum
"""

KEYS_SQL = """
SELECT n.nspname AS schema, c.relname AS table, k.contype::text AS kind,
       array_agg(a.attname::text ORDER BY u.ord) AS columns,
       max(fc.relname) AS target_table,
       array_agg(fa.attname::text ORDER BY u.ord) AS target_columns
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL unnest(k.conkey) WITH ORDINALITY AS u(attnum, ord)
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = u.attnum
LEFT JOIN pg_class fc ON fc.oid = k.confrelid
LEFT JOIN pg_attribute fa ON fa.attrelid = k.confrelid AND fa.attnum = k.confkey[u.ord]
WHERE n.nspname = ANY($1::text[]) AND k.contype IN ('p', 'f')
GROUP BY n.nspname, c.relname, k.oid, k.contype
"""


async def load_schema_cache(conn: Fetcher, schemas: Sequence[str]) -> SchemaCache:
    """Read the catalog for `schemas` (as the authenticator, whatever the request roles may see)."""
    column_rows = await conn.fetch(COLUMNS_SQL, list(schemas))
    key_rows = await conn.fetch(KEYS_SQL, list(schemas))
    return build_schema_cache(column_rows, key_rows)


def build_schema_cache(column_rows: Sequence[Mapping[str, Any]], key_rows: Sequence[Mapping[str, Any]]) -> SchemaCache:
    """Assemble a snapshot from catalog rows (pure: tests feed it literal rows)."""
    columns: dict[tuple[str, str], dict[str, Column]] = {}
    meta: dict[tuple[str, str], tuple[str, str | None]] = {}
    for row in column_rows:
        key = (row["schema"], row["table"])
        meta[key] = (row["kind"], row["table_description"])
        columns.setdefault(key, {})[row["name"]] = Column(
            name=row["name"],
            data_type=row["data_type"],
            sql_type=row["sql_type"],
            nullable=row["nullable"],
            default=row["default"],
            max_length=row["max_length"],
            enum=tuple(row["enum"] or ()),
            description=row["description"],
        )
    primary: dict[tuple[str, str], tuple[str, ...]] = {}
    foreign: dict[tuple[str, str], list[ForeignKey]] = {}
    for row in key_rows:
        key = (row["schema"], row["table"])
        if row["kind"] == "p":
            primary[key] = tuple(row["columns"])
        elif len(row["columns"]) == 1:
            fk = ForeignKey(row["columns"][0], row["target_table"], row["target_columns"][0])
            foreign.setdefault(key, []).append(fk)
    tables = {
        key: Table(
            schema=key[0],
            name=key[1],
            kind=meta[key][0],
            columns=cols,
            primary_key=primary.get(key, ()),
            foreign_keys=tuple(foreign.get(key, ())),
            description=meta[key][1],
        )
        for key, cols in columns.items()
    }
    return SchemaCache(tables)


class SchemaCacheHolder:
    """Holds the current snapshot and serialises reloads; requests wait while one is running.

    `request_reload()` is debounced (PostgREST: 100 ms window): a burst of NOTIFYs gives one or
    two reloads, not one per notification.
    """

    def __init__(self, loader: Callable[[], Awaitable[SchemaCache]], *, debounce_seconds: float = 0.1) -> None:
        self._loader = loader
        self._debounce = debounce_seconds
        self._snapshot: SchemaCache | None = None
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.reloads = 0

    @property
    def snapshot(self) -> SchemaCache | None:
        return self._snapshot

    async def reload(self) -> None:
        """Load a fresh snapshot now."""
        self._snapshot = await self._loader()
        self.reloads += 1

    def request_reload(self) -> None:
        """Schedule a debounced reload (called from the LISTEN callback)."""
        self._dirty = True
        self._idle.clear()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._reload_when_quiet())

    async def _reload_when_quiet(self) -> None:
        try:
            while self._dirty:
                await asyncio.sleep(self._debounce)
                self._dirty = False
                try:
                    await self.reload()
                except Exception as exc:  # keep serving the old snapshot, as PostgREST does
                    log.warning("schema_cache_reload_failed", error=str(exc))
        finally:
            self._idle.set()

    async def current(self) -> SchemaCache:
        """The snapshot, after any pending reload; PGRST002 (503) if none has loaded yet."""
        await self._idle.wait()
        if self._snapshot is None:
            raise schema_cache_not_loaded()
        return self._snapshot

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
