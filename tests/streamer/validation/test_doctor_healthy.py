"""`streamer doctor` on a healthy, running service: every line passes and it exits 0 (on a
stack shared with other tests, but for the error table's line, which reports their history).

The other doctor tests each break one thing and look for its line; this one breaks nothing. A real
`streamer run` (capture and sink) keeps a leads table of the test's own in step: its slot is
active (the capture streams it over the replication protocol), its topic exists and its consumer
group has caught up; the destination's copy is open to service_role and shown by the API. A check
that cries wolf on such a stack (the slot "inactive", the topic "does not exist yet") fails here.
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

from devstack.stack import Endpoints
from tests.streamer.monitor.processes import REPO, free_port, own_leads_table, streamer_env, streamer_run, wait_ready
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


async def test_doctor_passes_every_check_while_the_sync_runs(services: Endpoints, unique: str, tmp_path: Path) -> None:
    source = await asyncpg.connect(services.source_dsn)
    destination = await asyncpg.connect(services.destination_dsn)
    try:
        async with own_leads_table(source, unique) as table:
            await source.execute(f"CREATE TRIGGER leads_tag_write BEFORE INSERT OR UPDATE ON public.{table} "
                                 "FOR EACH ROW EXECUTE FUNCTION public.leads_tag_write()")
            await create_leads_copy(destination, table)
            try:
                await destination.execute("NOTIFY pgrst, 'reload schema'")
                await wait_for_api(services, table)
                env = streamer_env(services, unique, table, free_port(), ["capture", "sink"],
                                   STREAMER_DESTINATION__URL=services.destination_url,
                                   STREAMER_DESTINATION__SERVICE_KEY=services.service_key,
                                   STREAMER_DESTINATION__DSN=services.destination_dsn,
                                   STREAMER_DESTINATION__TABLE=table,
                                   STREAMER_SINK__GROUP_ID=f"sink-{unique}",
                                   STREAMER_VALIDATION__CACHE_DIR=str(tmp_path / "cache"))
                with streamer_run(env, tmp_path / "streamer.log") as service:
                    await wait_ready(service)
                    await source.execute(f"INSERT INTO {table} (id, name) SELECT g, 'lead ' || g "
                                         "FROM generate_series(1, 20) g")
                    await _landed(destination, table, 20, service.output)
                    proc = await asyncio.to_thread(_doctor, env)
                    assert service.process.poll() is None, service.output()
            finally:
                await destination.execute(f"DROP TABLE IF EXISTS public.{table}")
                await destination.execute("NOTIFY pgrst, 'reload schema'")
    finally:
        await source.close()
        await destination.close()
    checks = {c["name"]: c for c in json.loads(proc.stdout)}
    problems = {name: (c["status"], c.get("detail")) for name, c in checks.items() if c["status"] != "ok"}
    # The reverse sync is optional and not set up here: its line says so ("skip") and is no problem.
    assert problems.pop("reverse sync", ("skip", ""))[0] == "skip"
    # The error table is shared by every test on the stack (other tests file refused leads there
    # on purpose): its line reports that history, true or not of this sync, so it is not judged here.
    problems.pop("errors", None)
    assert "errors" in checks
    assert problems == {}, proc.stdout + proc.stderr
    assert {"slot", "schema", "loop: source tag"} <= set(checks)
    assert any(name.startswith("kafka") for name in checks), sorted(checks)
    # Exit 0 but for that shared line: 1 only when it failed (another test's planted burst).
    assert proc.returncode == (1 if checks["errors"]["status"] == "fail" else 0), proc.stderr
