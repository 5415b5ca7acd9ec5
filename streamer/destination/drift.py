"""Schema drift while running: which columns the sink writes that the destination does not know.

The sink calls `destination_drift` when it meets PGRST204/PGRST205 (a `PostgrestSchemaDrift`),
pauses the affected partitions, reports itself unhealthy with `report.message` (the exact fix), and
calls it again every so often; None means the destination knows every column now, so resume.

    report = await destination_drift(client, mapping, ["id", "name", "apelido"], table="leads")
    if report is not None:
        health.blocked("schema_drift", report.message)

`source_columns` may be plain names (from the rows the sink holds) or `catalog.Column`s (from
`read_source_columns`, which gives the fix its exact types). `drift_from_openapi` is the pure part.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.postgres.slot import connect
from connectors.postgrest.client import PostgrestClient
from schemas.mapping import SYNC_SOURCE_COLUMN, FieldMapping
from streamer.destination.catalog import Column, read_columns
from streamer.destination.fix_sql import MissingColumn, fix_script, qualified

RELOAD_HINT = "then `streamer schema reload-cache` (or wait for the schema cache to reload); the sink resumes by itself"


@dataclass(frozen=True)
class DriftReport:
    """What the destination lacks and the SQL that adds it. `table_missing` means the whole table."""

    table: str
    missing: tuple[str, ...]
    fix_sql: str
    schema_name: str = "public"
    table_missing: bool = False

    @property
    def message(self) -> str:
        """One paragraph for health reports and logs: cause, then fix."""
        where = qualified(self.schema_name, self.table)
        if self.table_missing:
            return (f"the destination's API does not show table {where} (missing, no grant to service_role, or a "
                    f"stale schema cache): run `streamer db migrate --target destination`, {RELOAD_HINT}")
        names = ", ".join(self.missing)
        return (f"the destination table {where} lacks column(s) {names} that the sink writes: run in Gestão "
                f"Scouter's SQL editor:\n{self.fix_sql}{RELOAD_HINT}")


def drift_from_openapi(
    openapi: Mapping[str, Any], mapping: FieldMapping, source_columns: Iterable[str | Column], *,
    table: str = "leads", schema: str = "public",
) -> DriftReport | None:
    """None if the OpenAPI document shows every column the sink writes for `source_columns`."""
    definitions = openapi.get("definitions")
    definition = definitions.get(table) if isinstance(definitions, Mapping) else None
    if not isinstance(definition, Mapping) or not isinstance(definition.get("properties"), Mapping):
        return DriftReport(table, (), "", schema, table_missing=True)
    known = definition["properties"]
    wanted: dict[str, Column | None] = {}
    for item in source_columns:
        name = item if isinstance(item, str) else item.name
        target = mapping.destination_name(name)
        if target is not None:
            wanted.setdefault(target, None if isinstance(item, str) else item)
    wanted.setdefault(SYNC_SOURCE_COLUMN, Column.of(SYNC_SOURCE_COLUMN, "text"))
    missing = [MissingColumn(name, None if col is None else str(col.type), True if col is None else col.type.builtin)
               for name, col in wanted.items() if name not in known]
    if not missing:
        return None
    return DriftReport(table, tuple(m.name for m in missing), fix_script(schema, table, missing), schema)


async def destination_drift(
    client: PostgrestClient, mapping: FieldMapping, source_columns: Iterable[str | Column], *,
    table: str = "leads", schema: str = "public",
) -> DriftReport | None:
    """Read the destination's OpenAPI document and compare (a `PostgrestError` propagates:
    unavailable → retry later, auth → the sink's auth handling)."""
    return drift_from_openapi(await client.openapi(), mapping, source_columns, table=table, schema=schema)


async def read_source_columns(dsn: str, schema: str, table: str) -> list[Column]:
    """The source table's columns with exact types, for a fix script that needs no editing."""
    async with connect(dsn) as conn:
        return await read_columns(conn, schema, table)
