"""The generated Gestão Scouter trigger, run on a real PostgreSQL with stand-ins for pg_net and Vault."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson
import pytest

from devstack.stack import Endpoints
from streamer.webhook.trigger_sql import trigger_sql

pytestmark = pytest.mark.integration
URL = "https://streamer.example.com/functions/v1/sync-from-gestao-scouter"
# Supabase's pg_net and Vault are not in a plain PostgreSQL: these stand-ins have their signatures
# (net.http_post's named parameters, vault.decrypted_secrets' columns) and record the calls.
STANDINS = """
CREATE SCHEMA net;
CREATE TABLE net.calls (url text, headers jsonb, body jsonb, timeout_ms int);
CREATE FUNCTION net.http_post(url text, body jsonb, params jsonb DEFAULT '{}', headers jsonb DEFAULT '{}',
                              timeout_milliseconds int DEFAULT 5000) RETURNS bigint
LANGUAGE sql AS $$ INSERT INTO net.calls VALUES (url, headers, body, timeout_milliseconds); SELECT 1::bigint $$;
CREATE SCHEMA vault;
CREATE TABLE vault.decrypted_secrets (name text, decrypted_secret text);
CREATE TABLE public.leads (id bigint PRIMARY KEY, name text, sync_source text, updated_at timestamptz);
"""


@pytest.fixture
async def scratch_db(services: Endpoints, unique: str) -> AsyncIterator[asyncpg.Connection]:
    """A database of its own on the destination server, dropped afterwards."""
    name = f"gs_trigger_{unique}"
    admin = await asyncpg.connect(services.destination_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(services.destination_dsn)
    conn = await asyncpg.connect(urlunsplit(parts._replace(path=f"/{name}")))
    try:
        yield conn
    finally:
        await conn.close()
        await admin.execute(f'DROP DATABASE "{name}"')
        await admin.close()


async def installed(db: asyncpg.Connection) -> None:
    await db.execute(STANDINS)
    await db.execute(trigger_sql(URL).replace("create extension if not exists pg_net;", ""))
    await db.execute("INSERT INTO vault.decrypted_secrets VALUES ('tabuladormax_webhook_key', 'k-123')")


async def as_the_sync(db: asyncpg.Connection, sql: str) -> None:
    """A write as the sink makes it through PostgREST: its X-Sync-Source header in request.headers."""
    async with db.transaction():
        await db.execute("""SELECT set_config('request.headers', '{"x-sync-source": "tabuladormax"}', true)""")
        await db.execute(sql)


async def posted(db: asyncpg.Connection) -> list[tuple[int, str, str, str]]:
    calls = await db.fetch("SELECT body FROM net.calls")
    return [(b["lead"]["id"], b["type"], b["source"], b["lead"]["sync_source"])
            for b in (orjson.loads(c["body"]) for c in calls)]


async def test_the_trigger_posts_gestao_scouter_edits_and_skips_echoes(scratch_db: asyncpg.Connection) -> None:
    """Gestão Scouter's own inserts and updates are posted with the Vault key; the sync's writes
    (header) and a session that says it is Supabase's are not."""
    await installed(scratch_db)
    await scratch_db.execute("INSERT INTO public.leads VALUES (1, 'a', NULL, now()), (4, 'd', 'anything', now())")
    await as_the_sync(scratch_db, "INSERT INTO public.leads VALUES (2, 'b', 'tabuladormax', now())")
    async with scratch_db.transaction():
        await scratch_db.execute("SELECT set_config('streamer.sync_source', 'supabase', true)")
        await scratch_db.execute("INSERT INTO public.leads VALUES (3, 'c', NULL, now())")
    await scratch_db.execute("UPDATE public.leads SET name = 'a2' WHERE id = 1")
    assert await posted(scratch_db) == [
        (1, "INSERT", "gestao_scouter", "gestao_scouter"), (4, "INSERT", "gestao_scouter", "gestao_scouter"),
        (1, "UPDATE", "gestao_scouter", "gestao_scouter")]
    tags = dict(await scratch_db.fetch("SELECT id, sync_source FROM public.leads"))
    assert tags == {1: "gestao_scouter", 2: "tabuladormax", 3: "supabase", 4: "gestao_scouter"}
    calls = await scratch_db.fetch("SELECT url, headers FROM net.calls")
    assert {c["url"] for c in calls} == {URL}
    assert orjson.loads(calls[0]["headers"])["Authorization"] == "Bearer k-123"
    assert "k-123" not in await scratch_db.fetchval("SELECT prosrc FROM pg_proc WHERE proname = 'notify_tabuladormax'")


async def test_an_edit_of_a_lead_the_sync_wrote_is_sent_and_the_syncs_next_write_is_not(
    scratch_db: asyncpg.Connection,
) -> None:
    """The case the seed's trigger got wrong: the row still says 'tabuladormax' from the last sync
    when an analyst edits another column; the edit is Gestão Scouter's and must reach TabuladorMax.
    The sync's next write of the lead is tagged 'tabuladormax' again and not sent back."""
    await installed(scratch_db)
    await as_the_sync(scratch_db, "INSERT INTO public.leads VALUES (7, 'synced', 'tabuladormax', now())")
    await scratch_db.execute("UPDATE public.leads SET name = 'edited here' WHERE id = 7")
    await as_the_sync(scratch_db, "UPDATE public.leads SET name = 'synced again', sync_source = 'tabuladormax' "
                                  "WHERE id = 7")
    assert await posted(scratch_db) == [(7, "UPDATE", "gestao_scouter", "gestao_scouter")]
    assert await scratch_db.fetchval("SELECT sync_source FROM public.leads WHERE id = 7") == "tabuladormax"


async def test_without_the_vault_secret_the_write_goes_through_and_nothing_is_sent(
    scratch_db: asyncpg.Connection,
) -> None:
    """A missing secret warns instead of blocking Gestão Scouter's write."""
    await scratch_db.execute(STANDINS)
    await scratch_db.execute(trigger_sql(URL).replace("create extension if not exists pg_net;", ""))
    await scratch_db.execute("INSERT INTO public.leads VALUES (1, 'a', NULL, now())")
    assert await scratch_db.fetchval("SELECT count(*) FROM public.leads") == 1
    assert await scratch_db.fetchval("SELECT count(*) FROM net.calls") == 0
