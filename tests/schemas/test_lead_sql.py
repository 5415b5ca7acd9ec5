"""Migrations: both targets apply cleanly twice, and the tables match the lead model."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from connectors.postgres.migrations import MigrationFailed, apply_files
from schemas.lead import LEAD_COLUMNS
from schemas.sql_files import Target, migration_files

pytestmark = pytest.mark.integration


def with_database(dsn: str, database: str, user: str | None = None, password: str | None = None) -> str:
    parts = urlsplit(dsn)
    netloc = parts.netloc
    if user is not None:
        netloc = f"{user}:{password}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{database}"))


@pytest.mark.parametrize("target", ["source", "destination"])
async def test_migrations_apply_once_and_are_safe_to_run_again(fresh_db: str, target: Target) -> None:
    """The first run applies every file; the second changes nothing and fails on nothing."""
    conn = await asyncpg.connect(fresh_db)
    try:
        first = await apply_files(conn, migration_files(target))
        second = await apply_files(conn, migration_files(target))
    finally:
        await conn.close()
    assert {o.action for o in first} == {"applied"}
    assert {o.action for o in second} == {"unchanged"}
    assert [o.name for o in first] == [o.name for o in second]


@pytest.mark.parametrize("target", ["source", "destination"])
async def test_leads_table_has_the_models_49_columns_in_order(fresh_db: str, target: Target) -> None:
    """The SQL and the pydantic lead model agree column for column."""
    conn = await asyncpg.connect(fresh_db)
    try:
        await apply_files(conn, migration_files(target))
        columns = await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name = 'leads' ORDER BY ordinal_position")
    finally:
        await conn.close()
    assert tuple(r["column_name"] for r in columns) == LEAD_COLUMNS
    assert len(LEAD_COLUMNS) == 49


async def test_every_product_table_has_rls_open_to_service_role_only(fresh_db: str) -> None:
    """RLS is enabled on each table the product creates, with a policy for service_role alone."""
    conn = await asyncpg.connect(fresh_db)
    try:
        await apply_files(conn, migration_files("source"))
        tables = await conn.fetch(
            "SELECT c.relname, c.relrowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r'")
        policies = await conn.fetch("SELECT tablename, roles FROM pg_policies WHERE schemaname = 'public'")
    finally:
        await conn.close()
    names = {r["relname"] for r in tables}
    assert {"leads", "gestao_scouter_export_jobs", "gestao_scouter_export_errors", "streamer_migrations"} <= names
    assert all(r["relrowsecurity"] for r in tables)
    assert {p["tablename"] for p in policies} == names
    assert all(list(p["roles"]) == ["service_role"] for p in policies)


async def test_source_indexes_serve_the_seeds_date_queries(fresh_db: str) -> None:
    """`leads.updated_at` and `leads.criado` are indexed, as the seed's export queries need."""
    conn = await asyncpg.connect(fresh_db)
    try:
        await apply_files(conn, migration_files("source"))
        defs = await conn.fetch("SELECT indexdef FROM pg_indexes WHERE tablename = 'leads'")
    finally:
        await conn.close()
    text = " ".join(r["indexdef"] for r in defs)
    assert "(updated_at, id)" in text and "(criado, id)" in text


async def test_writes_are_tagged_with_their_sync_source(fresh_db: str) -> None:
    """A plain write is tagged 'tabuladormax'; a session that set streamer.sync_source is tagged so."""
    conn = await asyncpg.connect(fresh_db)
    try:
        await apply_files(conn, migration_files("source"))
        await conn.execute("INSERT INTO leads (id, name, sync_source) VALUES (1, 'Ana', 'forged')")
        async with conn.transaction():
            await conn.execute("SELECT set_config('streamer.sync_source', 'gestao_scouter', true)")
            await conn.execute("INSERT INTO leads (id, name) VALUES (2, 'Bia')")
        await conn.execute("UPDATE leads SET name = 'Bia Souza' WHERE id = 2")
        rows = dict(await conn.fetch("SELECT id, sync_source FROM leads ORDER BY id"))
    finally:
        await conn.close()
    assert rows == {1: "tabuladormax", 2: "tabuladormax"}


async def test_reverse_writes_keep_their_tag_until_edited_locally(fresh_db: str) -> None:
    """A row written by the reverse applier carries 'gestao_scouter' until anyone else edits it."""
    conn = await asyncpg.connect(fresh_db)
    try:
        await apply_files(conn, migration_files("source"))
        async with conn.transaction():
            await conn.execute("SELECT set_config('streamer.sync_source', 'gestao_scouter', true)")
            await conn.execute("INSERT INTO leads (id, name) VALUES (7, 'Caio')")
        tagged = await conn.fetchval("SELECT sync_source FROM leads WHERE id = 7")
        before = await conn.fetchval("SELECT updated_at FROM leads WHERE id = 7")
        await conn.execute("UPDATE leads SET etapa = 'agendado' WHERE id = 7")
        after = await conn.fetchrow("SELECT sync_source, updated_at FROM leads WHERE id = 7")
    finally:
        await conn.close()
    assert tagged == "gestao_scouter"
    assert after["sync_source"] == "tabuladormax"
    assert after["updated_at"] > before


async def test_a_role_without_privileges_gets_a_clear_error(fresh_db: str, unique: str) -> None:
    """Migrating as a role that may not create tables fails naming the file, SQLSTATE and role."""
    role, password = f"weak_{unique}", "weak-pass-1"
    admin = await asyncpg.connect(fresh_db)
    await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        weak = await asyncpg.connect(with_database(fresh_db, urlsplit(fresh_db).path[1:], role, password))
        try:
            with pytest.raises(MigrationFailed) as caught:
                await apply_files(weak, migration_files("source"))
        finally:
            await weak.close()
    finally:
        await admin.execute(f"DROP OWNED BY {role}")
        await admin.execute(f"DROP ROLE {role}")
        await admin.close()
    assert caught.value.lacks_privilege
    assert caught.value.user == role
    assert "SQLSTATE 42501" in str(caught.value)
