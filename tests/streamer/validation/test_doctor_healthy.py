"""`streamer doctor` on a healthy, running service: every line passes and it exits 0.

The other doctor tests each break one thing and look for its line; this one breaks nothing. A real
`streamer run` (capture and sink) keeps a leads table in step: its slot is active (the capture
streams it over the replication protocol), its topic exists and its consumer group has caught up;
the destination's copy is open to service_role and shown by the API. A check that cries wolf on
such a stack (the slot "inactive", the topic "does not exist yet") fails here.

The source side is a database of the test's own on the stack's server (the source migrations,
nothing else), so the jobs and error tables it reads hold no other test's history: every line is
judged, the error table's too.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from connectors.postgres import slot as slots
from connectors.postgres.migrations import apply_to
from devstack.stack import Endpoints
from schemas.sql_files import migration_files
from tests.streamer.monitor.processes import REPO, free_port, streamer_env, streamer_run, wait_ready
from tests.streamer.validation.test_troubleshooting import create_leads_copy, wait_for_api

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def _landed(destination: asyncpg.Connection, table: str, n: int, output: Callable[[], str]) -> None:
    for _ in range(300):
        if await destination.fetchval(f"SELECT count(*) FROM public.{table}") == n:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{n} leads never landed in {table}:\n{output()}")


def _doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streamer", "doctor", "--json"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=180, check=False)


async def _drop_slot(conn: asyncpg.Connection, name: str) -> None:
    """The database cannot be dropped while its slot exists; the walsender may take a moment to let go."""
    for _ in range(50):
        try:
            await slots.drop_slot(conn, name)
            return
        except Exception:
            await asyncio.sleep(0.2)


async def test_doctor_passes_every_check_while_the_sync_runs(
    services: Endpoints, unique: str, tmp_path: Path, fresh_db: str,
) -> None:
    await apply_to(fresh_db, migration_files("source"))
    source = await asyncpg.connect(fresh_db)
    destination = await asyncpg.connect(services.destination_dsn)
    table = f"leads_{unique}"  # the destination's copy; the source's table is its own database's `leads`
    try:
        await create_leads_copy(destination, table)
        await destination.execute("NOTIFY pgrst, 'reload schema'")
        await wait_for_api(services, table)
        env = streamer_env(services, unique, None, free_port(), ["capture", "sink"],
                           STREAMER_SOURCE__DSN=fresh_db,
                           STREAMER_DESTINATION__URL=services.destination_url,
                           STREAMER_DESTINATION__SERVICE_KEY=services.service_key,
                           STREAMER_DESTINATION__DSN=services.destination_dsn,
                           STREAMER_DESTINATION__TABLE=table,
                           STREAMER_SINK__GROUP_ID=f"sink-{unique}",
                           STREAMER_VALIDATION__CACHE_DIR=str(tmp_path / "cache"))
        try:
            with streamer_run(env, tmp_path / "streamer.log") as service:
                await wait_ready(service)
                await source.execute("INSERT INTO public.leads (id, name) SELECT g, 'lead ' || g "
                                     "FROM generate_series(1, 20) g")
                await _landed(destination, table, 20, service.output)
                proc = await asyncio.to_thread(_doctor, env)
                assert service.process.poll() is None, service.output()
        finally:
            await _drop_slot(source, f"slot_{unique}")
    finally:
        await destination.execute(f"DROP TABLE IF EXISTS public.{table}")
        await destination.execute("NOTIFY pgrst, 'reload schema'")
        await source.close()
        await destination.close()
    checks = {c["name"]: c for c in json.loads(proc.stdout)}
    problems = {name: (c["status"], c.get("detail")) for name, c in checks.items() if c["status"] != "ok"}
    # The reverse sync is optional and not set up here: its line says so ("skip") and is no problem.
    assert problems.pop("reverse sync", ("skip", ""))[0] == "skip"
    assert problems == {}, proc.stdout + proc.stderr
    assert {"slot", "schema", "jobs", "errors", "loop: source tag", "consumer lag"} <= set(checks)
    assert any(name.startswith("kafka") for name in checks), sorted(checks)
    assert proc.returncode == 0, proc.stderr
