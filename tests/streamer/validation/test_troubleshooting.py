"""The seed's troubleshooting section, reproduced against real services: each test makes the
problem happen on tables of its own (`leads_<id>` copies on both sides) and checks that the tool
names the cause and the fix."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from connectors.postgrest.client import PostgrestClient
from connectors.postgrest.keys import issue_key
from devstack.stack import Endpoints
from schemas.mapping import FieldMapping
from streamer.destination.drift import destination_drift, read_source_columns
from streamer.webhook.trigger_sql import tagging_sql
from tests.bare_api import bare_api

pytestmark = pytest.mark.integration


@dataclass
class Copies:
    """`leads_<id>` on the source and on the destination, with connections to both."""

    table: str
    source: asyncpg.Connection
    destination: asyncpg.Connection


async def wait_for_api(services: Endpoints, table: str, present: bool = True) -> None:
    headers = {"apikey": services.service_key, "Authorization": f"Bearer {services.service_key}"}
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(100):
            doc = (await client.get(f"{services.postgrest_url}/", headers=headers)).json()
            if (table in doc.get("definitions", {})) == present:
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"the API never {'showed' if present else 'dropped'} {table}")


async def create_leads_copy(conn: asyncpg.Connection, table: str) -> None:
    """`public.<table>` like `leads`, open to service_role as the migrations make `leads`."""
    await conn.execute(f"""
        CREATE TABLE public.{table} (LIKE public.leads INCLUDING ALL);
        GRANT SELECT, INSERT, UPDATE, DELETE ON public.{table} TO service_role;
        ALTER TABLE public.{table} ENABLE ROW LEVEL SECURITY;
        CREATE POLICY service_role_all ON public.{table} FOR ALL TO service_role
          USING (true) WITH CHECK (true);""")


@pytest.fixture
async def copies(services: Endpoints, unique: str) -> AsyncIterator[Copies]:
    """Copies of `leads` on both sides, open to service_role as the migrations make them."""
    table = f"leads_{unique}"
    source = await asyncpg.connect(services.source_dsn)
    destination = await asyncpg.connect(services.destination_dsn)
    try:
        for conn in (source, destination):
            await create_leads_copy(conn, table)
        await destination.execute("NOTIFY pgrst, 'reload schema'")
        await wait_for_api(services, table)
        yield Copies(table, source, destination)
    finally:
        for conn in (source, destination):
            await conn.execute(f"DROP TABLE IF EXISTS public.{table}")
            await conn.execute(f"DROP FUNCTION IF EXISTS public.notify_{table}()")
        await destination.execute("NOTIFY pgrst, 'reload schema'")
        await source.close()
        await destination.close()


def streamer(
    services: Endpoints, table: str, cache: Path, *args: str, **overrides: str,
) -> subprocess.CompletedProcess[str]:
    """Run the CLI against the copies, as a person would, with the stack's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_")}
    env |= {
        "STREAMER_SOURCE__DSN": services.source_dsn,
        "STREAMER_SOURCE__TABLE": table,
        "STREAMER_KAFKA__BOOTSTRAP_SERVERS": services.kafka_bootstrap,
        "STREAMER_DESTINATION__URL": services.destination_url,
        "STREAMER_DESTINATION__SERVICE_KEY": services.service_key,
        "STREAMER_DESTINATION__DSN": services.destination_dsn,
        "STREAMER_DESTINATION__TABLE": table,
        "STREAMER_VALIDATION__CACHE_DIR": str(cache),
        "STREAMER_VALIDATION__RELOAD_TIMEOUT_SECONDS": "20",
        "COLUMNS": "250",
    } | overrides
    env = {k: v for k, v in env.items() if v}
    return subprocess.run([sys.executable, "-m", "streamer", *args], env=env, capture_output=True, text=True,
                          timeout=180, check=False)


def checks_of(proc: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in json.loads(proc.stdout)}


async def run(*args: Any, **kw: Any) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(streamer, *args, **kw)


async def test_invalid_schema_prints_the_alter_and_passes_once_it_is_applied(
    services: Endpoints, copies: Copies, tmp_path: Path,
) -> None:
    """'Schema inválido': validate prints the ALTER; applying it and reloading the cache makes it pass."""
    await copies.source.execute(f"ALTER TABLE public.{copies.table} ADD COLUMN apelido varchar(40)")
    first = await run(services, copies.table, tmp_path, "validate", "schema")
    assert first.returncode == 1, first.stdout + first.stderr
    alter = f'ALTER TABLE public.{copies.table} ADD COLUMN IF NOT EXISTS "apelido" character varying(40);'
    assert alter in first.stdout and "PGRST204" in first.stdout
    sql = first.stdout.split("SQL to run in Gestão Scouter's SQL editor:", 1)[1]
    await copies.destination.execute(sql)  # what the user pastes into the SQL editor
    reload = await run(services, copies.table, tmp_path, "schema", "reload-cache")
    assert reload.returncode == 0, reload.stdout + reload.stderr
    assert "every expected column shown" in reload.stdout
    again = await run(services, copies.table, tmp_path, "validate", "schema")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 error(s)" in again.stdout
    cached = await run(services, copies.table, tmp_path, "validate", "schema")
    assert cached.returncode == 0 and "cached result" in cached.stdout


async def test_drift_helper_reports_the_new_column_until_the_destination_knows_it(
    services: Endpoints, copies: Copies,
) -> None:
    """The sink's helper names the missing column with its fix, then None once it is added."""
    await copies.source.execute(f"ALTER TABLE public.{copies.table} ADD COLUMN apelido text")
    columns = await read_source_columns(services.source_dsn, "public", copies.table)
    async with PostgrestClient(services.postgrest_url, services.service_key) as client:
        report = await destination_drift(client, FieldMapping(), columns, table=copies.table)
        assert report is not None and report.missing == ("apelido",)
        await copies.destination.execute(report.fix_sql)
        for _ in range(100):
            if await destination_drift(client, FieldMapping(), columns, table=copies.table) is None:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("drift never cleared")


async def test_anon_key_is_named_with_the_service_role_fix(services: Endpoints, copies: Copies, tmp_path: Path) -> None:
    """'Unauthorized': with the anon key, validate config names the anon key and asks for service_role."""
    proc = await run(services, copies.table, tmp_path, "validate", "config",
                     STREAMER_DESTINATION__SERVICE_KEY=services.anon_key)
    assert proc.returncode == 1
    assert "role is 'anon'" in proc.stdout and "service_role key" in proc.stdout
    assert services.anon_key not in proc.stdout + proc.stderr


async def test_key_of_another_project_is_refused_with_401(services: Endpoints, copies: Copies, tmp_path: Path) -> None:
    """'Unauthorized': a service_role key signed with another secret is refused (401), fix named."""
    foreign = issue_key("another-project-secret-of-at-least-32-chars", "service_role")
    proc = await run(services, copies.table, tmp_path, "validate", "config", "--json",
                     STREAMER_DESTINATION__SERVICE_KEY=foreign)
    checks = checks_of(proc)
    assert proc.returncode == 1
    assert checks["openapi"]["status"] == "fail" and "401" in checks["openapi"]["detail"]
    assert "service_role" in checks["openapi"]["fix"] and "project URL" in checks["openapi"]["fix"]


async def test_revoked_grant_is_a_403_with_the_grant_and_policy_fix(
    services: Endpoints, copies: Copies, tmp_path: Path,
) -> None:
    """'403 Forbidden': without INSERT/UPDATE the write probe fails 403 and nothing is written."""
    await copies.destination.execute(f"REVOKE INSERT, UPDATE ON public.{copies.table} FROM service_role")
    proc = await run(services, copies.table, tmp_path, "validate", "config", "--json")
    write = checks_of(proc)["write"]
    assert proc.returncode == 1 and write["status"] == "fail" and "403" in write["detail"]
    assert f"GRANT SELECT, INSERT, UPDATE, DELETE ON public.{copies.table} TO service_role" in write["fix"]
    assert f"SELECT * FROM pg_policies WHERE tablename = '{copies.table}'" in write["fix"]
    assert await copies.destination.fetchval(f"SELECT count(*) FROM public.{copies.table}") == 0


async def test_working_config_writes_nothing(services: Endpoints, copies: Copies, tmp_path: Path) -> None:
    """With the right key every step passes and the table stays empty."""
    proc = await run(services, copies.table, tmp_path, "validate", "config", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {c["status"] for c in checks_of(proc).values()} == {"ok"}
    assert await copies.destination.fetchval(f"SELECT count(*) FROM public.{copies.table}") == 0


async def test_reload_without_dsn_goes_through_the_rpc(services: Endpoints, copies: Copies, tmp_path: Path) -> None:
    """Without a DSN, `schema reload-cache` calls POST /rpc/streamer_reload_schema_cache (answered
    204 by the development server, as by PostgREST); the NOTIFY it sends reloads the API, which
    then shows a column the destination gained since the last reload."""
    headers = {"apikey": services.service_key, "Authorization": f"Bearer {services.service_key}"}
    async with httpx.AsyncClient(base_url=services.destination_url, headers=headers, timeout=10) as admin:
        paths = (await admin.get("/rest/v1/")).json()["paths"]
        assert "/rpc/streamer_reload_schema_cache" in paths  # migrated, cached, EXECUTE for service_role
        for conn in (copies.source, copies.destination):
            await conn.execute(f"ALTER TABLE public.{copies.table} ADD COLUMN apelido text")
        started = time.time()
        proc = await run(services, copies.table, tmp_path, "schema", "reload-cache", STREAMER_DESTINATION__DSN="")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "called /rpc/streamer_reload_schema_cache" in proc.stdout
        assert "every expected column shown" in proc.stdout
        log = (await admin.get("/_admin/requests")).json()["requests"]
    calls = [r for r in log if r["at"] >= started and r["path"].endswith("/rpc/streamer_reload_schema_cache")]
    assert [(r["method"], r["status"]) for r in calls] == [("POST", 204)]


async def test_reload_without_dsn_on_an_api_without_the_function_names_both_fixes(
    services: Endpoints, copies: Copies, tmp_path: Path,
) -> None:
    """An API whose database lacks the reload function (`tests/bare_api.py`): 404 PGRST202, and
    the message gives both fixes (install the function, or set the DSN)."""
    async with bare_api(services) as api:
        proc = await run(services, copies.table, tmp_path, "schema", "reload-cache", STREAMER_DESTINATION__DSN="",
                         STREAMER_DESTINATION__URL=api.url)
    assert proc.returncode == 1
    assert "/rpc/streamer_reload_schema_cache" in proc.stderr and "PGRST202" in proc.stderr
    assert "020_reload_rpc.sql" in proc.stderr and "STREAMER_DESTINATION__DSN" in proc.stderr


async def test_doctor_names_the_schema_key_and_grant_cases_with_their_fixes(
    services: Endpoints, copies: Copies, tmp_path: Path,
) -> None:
    """'Schema inválido', 'Unauthorized' and '403 Forbidden' as `streamer doctor` reports them (the
    tests above show `validate`; doctor runs the same checks): each a failed line with its fix."""
    await copies.source.execute(f"ALTER TABLE public.{copies.table} ADD COLUMN apelido varchar(40)")
    invalid = await run(services, copies.table, tmp_path, "doctor", "--json")
    schema = checks_of(invalid)["schema"]
    assert invalid.returncode == 1 and schema["status"] == "fail" and "apelido" in schema["detail"]
    assert f'ALTER TABLE public.{copies.table} ADD COLUMN IF NOT EXISTS "apelido" character varying(40);' in (
        schema["fix"])
    await copies.source.execute(f"ALTER TABLE public.{copies.table} DROP COLUMN apelido")

    anon = await run(services, copies.table, tmp_path, "doctor", "--json",
                     STREAMER_DESTINATION__SERVICE_KEY=services.anon_key)
    key = checks_of(anon)["destination key"]
    assert anon.returncode == 1 and key["status"] == "fail" and "'anon'" in key["detail"]
    assert "service_role" in key["fix"] and services.anon_key not in anon.stdout + anon.stderr
    foreign = await run(services, copies.table, tmp_path, "doctor", "--json",
                        STREAMER_DESTINATION__SERVICE_KEY=issue_key("another-project-secret-of-at-least-32-chars",
                                                                    "service_role"))
    openapi = checks_of(foreign)["destination openapi"]
    assert foreign.returncode == 1 and openapi["status"] == "fail" and "401" in openapi["detail"]
    assert "service_role" in openapi["fix"]

    await copies.destination.execute(f"REVOKE INSERT, UPDATE ON public.{copies.table} FROM service_role")
    revoked = await run(services, copies.table, tmp_path, "doctor", "--json")
    write = checks_of(revoked)["destination write"]
    assert revoked.returncode == 1 and write["status"] == "fail" and "403" in write["detail"]
    assert f"GRANT SELECT, INSERT, UPDATE, DELETE ON public.{copies.table} TO service_role" in write["fix"]
    assert await copies.destination.fetchval(f"SELECT count(*) FROM public.{copies.table}") == 0


async def test_sync_loop_missing_source_tag_trigger_is_reported_then_clears(
    services: Endpoints, copies: Copies, tmp_path: Path,
) -> None:
    """'Loop infinito': a source table without leads_tag_write fails with the migrate fix; installing it passes."""
    proc = await run(services, copies.table, tmp_path, "doctor", "--json")
    tag = checks_of(proc)["loop: source tag"]
    assert proc.returncode == 1 and tag["status"] == "fail"
    assert "leads_tag_write" in tag["detail"] and "streamer db migrate --target source" in tag["fix"]
    await copies.source.execute(f"CREATE TRIGGER leads_tag_write BEFORE INSERT OR UPDATE ON public.{copies.table} "
                                "FOR EACH ROW EXECUTE FUNCTION public.leads_tag_write()")
    after = await run(services, copies.table, tmp_path, "doctor", "--json")
    assert checks_of(after)["loop: source tag"]["status"] == "ok"


async def test_reverse_sync_without_loop_guard_or_webhook_key_is_reported(
    services: Endpoints, copies: Copies, tmp_path: Path,
) -> None:
    """'Sincronização reversa não funciona': an unguarded trigger is a loop; a guarded one needs the
    tagging trigger (else edits of synced leads are swallowed) and the webhook key."""
    function = f"public.notify_{copies.table}"
    trigger = (f"CREATE OR REPLACE TRIGGER sync_to_tabuladormax AFTER INSERT OR UPDATE ON public.{copies.table} "
               f"FOR EACH ROW EXECUTE FUNCTION {function}()")
    await copies.destination.execute(f"""
        CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('reverse', NEW.id::text); RETURN NEW; END $$; {trigger}""")
    unguarded = checks_of(await run(services, copies.table, tmp_path, "doctor", "--json"))["reverse sync"]
    assert unguarded["status"] == "fail" and "loop" in unguarded["detail"]
    assert "streamer reverse trigger-sql" in unguarded["fix"] and "DISABLE TRIGGER" in unguarded["fix"]
    await copies.destination.execute(f"""
        CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.sync_source = 'tabuladormax' OR NEW.sync_source = 'supabase' THEN RETURN NEW; END IF;
          PERFORM pg_notify('reverse', NEW.id::text); RETURN NEW;
        END $$""")
    untagged = checks_of(await run(services, copies.table, tmp_path, "doctor", "--json"))["reverse sync"]
    assert untagged["status"] == "fail" and "tag_gestao_scouter_write" in untagged["detail"]
    await copies.destination.execute(tagging_sql(table=copies.table))
    no_key = checks_of(await run(services, copies.table, tmp_path, "doctor", "--json"))["reverse sync"]
    assert no_key["status"] == "fail" and "STREAMER_WEBHOOK__JWT_SECRET" in no_key["fix"]
    keyed = await run(services, copies.table, tmp_path, "doctor", "--json", STREAMER_WEBHOOK__JWT_SECRET="s" * 40)
    assert checks_of(keyed)["reverse sync"]["status"] == "ok"


async def test_export_paused_by_errors_shows_stuck_job_and_error_burst(
    services: Endpoints, copies: Copies, tmp_path: Path, unique: str,
) -> None:
    """'Exportação pausada com erros': a stuck running job and a burst of one error are named with fixes."""
    message = f"PGRST204 Could not find the 'apelido_{unique}' column"
    job = await copies.source.fetchval(
        "INSERT INTO public.gestao_scouter_export_jobs (status, started_at, updated_at) "
        "VALUES ('running', now() - interval '3 hours', now() - interval '2 hours') RETURNING id::text")
    # A burst is more than twice the hour before: on a stack that already holds other tests' errors
    # from an hour ago, plant enough to be one.
    earlier = await copies.source.fetchval(
        "SELECT count(*) FROM public.gestao_scouter_export_errors "
        "WHERE created_at > now() - interval '2 hours' AND created_at <= now() - interval '1 hour'")
    try:
        await copies.source.execute(
            "INSERT INTO public.gestao_scouter_export_errors (job_id, lead_id, error_message, response_status) "
            "SELECT $1::uuid, -g, $2, 400 FROM generate_series(1, $3::int) g", job, message, max(200, 2 * earlier + 50))
        checks = checks_of(await run(services, copies.table, tmp_path, "doctor", "--json"))
    finally:
        await copies.source.execute("DELETE FROM public.gestao_scouter_export_jobs WHERE id = $1::uuid", job)
    assert checks["jobs"]["status"] == "fail" and job in checks["jobs"]["detail"]
    assert checks["errors"]["status"] == "fail" and message in checks["errors"]["detail"]
    assert "validate schema" in checks["errors"]["fix"]


async def wait_for_column(services: Endpoints, table: str, column: str, present: bool) -> None:
    headers = {"apikey": services.service_key, "Authorization": f"Bearer {services.service_key}"}
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(100):
            doc = (await client.get(f"{services.postgrest_url}/", headers=headers)).json()
            if (column in doc["definitions"][table]["properties"]) == present:
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"the API never {'showed' if present else 'dropped'} {table}.{column}")


async def test_a_cached_pass_is_not_served_after_the_destination_drops_a_column(
    services: Endpoints, copies: Copies, tmp_path: Path,
) -> None:
    """A pass is cached; a column the sync writes is dropped at the destination: the next run fails
    at once (the cache is keyed on both catalogs), not 5 minutes later."""
    first = await run(services, copies.table, tmp_path, "validate", "schema")
    assert first.returncode == 0, first.stdout + first.stderr
    cached = await run(services, copies.table, tmp_path, "validate", "schema")
    assert cached.returncode == 0 and "cached result" in cached.stdout
    await copies.destination.execute(f"ALTER TABLE public.{copies.table} DROP COLUMN cidade")
    await copies.destination.execute("NOTIFY pgrst, 'reload schema'")
    await wait_for_column(services, copies.table, "cidade", present=False)
    after = await run(services, copies.table, tmp_path, "validate", "schema")
    assert after.returncode == 1, after.stdout + after.stderr
    assert "cached result" not in after.stdout
    assert f'ALTER TABLE public.{copies.table} ADD COLUMN IF NOT EXISTS "cidade" text;' in after.stdout


async def test_a_narrow_varchar_or_numeric_the_data_exceeds_is_an_error_with_its_alter(
    services: Endpoints, copies: Copies, tmp_path: Path,
) -> None:
    """varchar(1) receiving 'SP' and numeric(4,2) receiving 123.45: errors (the writes would fail with
    22001/22003), with ALTERs that widen the columns; once applied, validation passes."""
    await copies.destination.execute(f"ALTER TABLE public.{copies.table} ALTER COLUMN estado TYPE varchar(1), "
                                     "ALTER COLUMN peso_kg TYPE numeric(4,2)")
    await copies.destination.execute("NOTIFY pgrst, 'reload schema'")
    fits = await run(services, copies.table, tmp_path, "validate", "schema", "--no-cache")
    assert fits.returncode == 0, fits.stdout + fits.stderr  # no value exceeds yet: warnings only
    assert "2 warning(s)" in fits.stdout
    await copies.source.execute(f"INSERT INTO public.{copies.table} (id, estado, peso_kg) VALUES (1, 'SP', 123.45)")
    proc = await run(services, copies.table, tmp_path, "validate", "schema")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "2 error(s)" in proc.stdout and "22001" in proc.stdout and "22003" in proc.stdout
    sql = proc.stdout.split("SQL to run in Gestão Scouter's SQL editor:", 1)[1]
    assert f'\nALTER TABLE public.{copies.table} ALTER COLUMN "estado" TYPE character varying(2);' in sql
    assert f'\nALTER TABLE public.{copies.table} ALTER COLUMN "peso_kg" TYPE numeric(5,2);' in sql
    await copies.destination.execute(sql)  # what the user pastes into the SQL editor
    again = await run(services, copies.table, tmp_path, "validate", "schema")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 error(s), 0 warning(s)" in again.stdout


async def test_reload_cache_with_a_column_the_database_lacks_is_one_failure(
    services: Endpoints, copies: Copies, tmp_path: Path,
) -> None:
    """A column the sync writes but the destination database lacks: the reload reports one outcome,
    a failure naming the column and the fix, never "reloaded" as well."""
    await copies.source.execute(f"ALTER TABLE public.{copies.table} ADD COLUMN apelido text")
    proc = await run(services, copies.table, tmp_path, "schema", "reload-cache")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "every expected column shown" not in proc.stdout + proc.stderr
    assert "apelido" in proc.stderr and "streamer validate schema" in proc.stderr
