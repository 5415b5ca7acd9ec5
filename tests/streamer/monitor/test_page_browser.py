"""The sync monitor page in headless Chromium against a real `streamer run` (capture + monitor)
and the real source database: a running export job shows its progress, a user enters the admin
token, clicks pause, and the job is paused in the database and on the page.

The console's screenshots (docs/screenshots/) come from test_console_browser.py."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from devstack.stack import Endpoints
from tests.streamer.monitor.cdp import chromium
from tests.streamer.monitor.processes import free_port, own_leads_table, streamer_env, streamer_run, wait_ready

pytestmark = pytest.mark.integration
TOKEN = "browser-test-admin-token-0123456789"
ROW = 'tr[data-job-id="{id}"]'


async def test_a_user_sees_job_progress_and_pauses_the_job(
    services: Endpoints, source_db: asyncpg.Connection, unique: str, tmp_path: Path
) -> None:
    """Load /monitor, see the running job at 10 / 100, unlock with the token, click pause: the row
    in gestao_scouter_export_jobs is paused, the page says so, and the error's lead data is masked."""
    job_id = await source_db.fetchval(
        "INSERT INTO gestao_scouter_export_jobs (status, kind, start_date, end_date, total_leads, exported_leads, "
        "error_leads, started_at, created_by) VALUES ('running', 'export', '2025-01-01', '2025-01-31', 100, 10, 1, "
        "now(), $1) RETURNING id::text", f"monitor-test-{unique}")
    await source_db.execute(
        "INSERT INTO gestao_scouter_export_errors (job_id, lead_id, error_message, response_status, lead_snapshot) "
        "VALUES ($1::uuid, 4242, 'Key (celular)=(11999998888) already exists', 409, '{\"name\": \"Ana\"}')", job_id)
    port = free_port()
    try:
        async with own_leads_table(source_db, unique) as table:
            env = streamer_env(services, unique, table, port, ["capture", "monitor"],
                               STREAMER_MONITOR__ADMIN_TOKEN=TOKEN)
            with streamer_run(env, tmp_path / "streamer.log") as service:
                await wait_ready(service)
                await source_db.executemany(f"INSERT INTO {table} (id, name) VALUES ($1, $2)",
                                            [(i, f"lead {i}") for i in range(1, 8)])
                async with chromium(tmp_path / "profile") as page:
                    await page.goto(f"{service.url}/monitor")
                    row = ROW.format(id=job_id)
                    await page.wait_for(f"document.querySelector('{row} .status')?.textContent === 'em execução'")
                    progress = await page.js(f"document.querySelector('{row} .progress').textContent")
                    assert progress == "11 / 100 (11,0%)"  # pt-BR by default
                    pause = f'{row} button[data-action="pause"]'
                    assert await page.js(f"document.querySelector('{pause}').disabled") is True  # no token yet

                    message = await page.wait_for(
                        "[...document.querySelectorAll('#errors td.msg')].map(e => e.textContent)"
                        ".find(t => t.includes('already exists'))")
                    assert "11999998888" not in message and "(***)" in message
                    await page.wait_for("document.querySelector('#capture')?.dataset.slot === 'active'")

                    await page.click("#token")
                    await page.type(TOKEN)
                    await page.click("#save-token")
                    await page.wait_for(f"document.querySelector('{pause}').disabled === false")
                    await page.click(pause)

                    await page.wait_for(f"document.querySelector('{row} .status')?.textContent === 'pausado'")
                    assert "pausar feito" in await page.js("document.querySelector('#message').textContent")
                    assert await source_db.fetchval(
                        "SELECT status FROM gestao_scouter_export_jobs WHERE id = $1::uuid", job_id) == "paused"
                    audit = await source_db.fetchval(
                        "SELECT actor FROM streamer_audit_log WHERE job_id = $1::uuid AND action = 'job.pause'", job_id)
                    assert audit == "monitor"
                    await page.wait_for(f"document.querySelector('{row} button[data-action=\"resume\"]').disabled"
                                        " === false")
                    png = await page.screenshot()
        assert png.startswith(b"\x89PNG")
    finally:
        await source_db.execute("DELETE FROM gestao_scouter_export_jobs WHERE id = $1::uuid", job_id)
