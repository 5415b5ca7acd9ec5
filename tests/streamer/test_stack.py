"""The local stack's PostgreSQL is ready for logical replication capture."""

from __future__ import annotations

import asyncpg
import pytest

pytestmark = pytest.mark.integration


async def test_source_allows_creating_a_logical_pgoutput_slot(source_db: asyncpg.Connection, unique: str) -> None:
    """wal_level is logical and a pgoutput slot can be created, seen, and dropped."""
    slot = f"test_slot_{unique}"
    assert await source_db.fetchval("SHOW wal_level") == "logical"
    await source_db.execute("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", slot)
    try:
        row = await source_db.fetchrow(
            "SELECT plugin, slot_type, database FROM pg_replication_slots WHERE slot_name = $1", slot)
    finally:
        await source_db.execute("SELECT pg_drop_replication_slot($1)", slot)
    assert (row["plugin"], row["slot_type"], row["database"]) == ("pgoutput", "logical", "tabuladormax")


async def test_source_and_destination_are_migrated(source_db: asyncpg.Connection,
                                                   destination_db: asyncpg.Connection) -> None:
    """Both databases have the leads table; only the source has the job tables."""
    assert await source_db.fetchval("SELECT to_regclass('public.gestao_scouter_export_jobs')::text")
    assert await destination_db.fetchval("SELECT to_regclass('public.leads')::text") == "leads"
    assert await destination_db.fetchval("SELECT to_regclass('public.gestao_scouter_export_jobs')") is None
