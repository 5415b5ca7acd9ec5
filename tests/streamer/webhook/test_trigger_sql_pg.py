"""The generated Gestão Scouter trigger, run on a real PostgreSQL with stand-ins for pg_net and Vault."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson
import pytest

from streamer.devstack.stack import Endpoints
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


async def test_the_trigger_posts_gestao_scouter_edits_and_skips_echoes(scratch_db: asyncpg.Connection) -> None:
    """Inserts and updates are posted with the Vault key; rows tagged tabuladormax/supabase are not."""
    sql = trigger_sql(URL).replace("create extension if not exists pg_net;", "")
    await scratch_db.execute(STANDINS)
    await scratch_db.execute(sql)
    await scratch_db.execute("INSERT INTO vault.decrypted_secrets VALUES ('tabuladormax_webhook_key', 'k-123')")
    await scratch_db.execute("INSERT INTO public.leads VALUES (1, 'a', 'gestao_scouter', now()), "
                             "(2, 'b', 'tabuladormax', now()), (3, 'c', 'supabase', now()), (4, 'd', NULL, now())")
    await scratch_db.execute("UPDATE public.leads SET name = 'a2' WHERE id = 1")
    calls = await scratch_db.fetch("SELECT url, headers, body, timeout_ms FROM net.calls")
    bodies = [orjson.loads(c["body"]) for c in calls]
    assert [(b["lead"]["id"], b["type"], b["source"]) for b in bodies] == [
        (1, "INSERT", "gestao_scouter"), (4, "INSERT", "gestao_scouter"), (1, "UPDATE", "gestao_scouter")]
    assert {c["url"] for c in calls} == {URL}
    assert orjson.loads(calls[0]["headers"])["Authorization"] == "Bearer k-123"
    assert "k-123" not in await scratch_db.fetchval("SELECT prosrc FROM pg_proc WHERE proname = 'notify_tabuladormax'")


async def test_without_the_vault_secret_the_write_goes_through_and_nothing_is_sent(
    scratch_db: asyncpg.Connection,
) -> None:
    """A missing secret warns instead of blocking Gestão Scouter's write."""
    await scratch_db.execute(STANDINS)
    await scratch_db.execute(trigger_sql(URL).replace("create extension if not exists pg_net;", ""))
    await scratch_db.execute("INSERT INTO public.leads VALUES (1, 'a', NULL, now())")
    assert await scratch_db.fetchval("SELECT count(*) FROM public.leads") == 1
    assert await scratch_db.fetchval("SELECT count(*) FROM net.calls") == 0
