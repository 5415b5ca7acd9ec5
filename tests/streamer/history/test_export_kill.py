"""SIGKILL of the service during an export: after a restart the job continues and completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from devstack.stack import Endpoints
from streamer.state import store
from tests.streamer.history.conftest import job_now, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def start_service(services: Endpoints, unique: str, log: Any) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_")} | {
        "STREAMER_SOURCE__DSN": services.source_dsn,
        "STREAMER_KAFKA__BOOTSTRAP_SERVERS": services.kafka_bootstrap,
        "STREAMER_KAFKA__TOPIC_PREFIX": f"t{unique}", "STREAMER_KAFKA__PARTITIONS": "3",
        "STREAMER_DESTINATION__URL": services.destination_url,
        "STREAMER_DESTINATION__SERVICE_KEY": services.service_key,
        "STREAMER_DESTINATION__DSN": services.destination_dsn,
        "STREAMER_SINK__GROUP_ID": f"sink-{unique}", "STREAMER_HISTORY__PAGE_SIZE": "500",
        "STREAMER_HISTORY__POLL_SECONDS": "0.2", "STREAMER_HISTORY__OPERATOR": "pytest",
        "STREAMER_RUN__COMPONENTS": '["exporter","sink"]', "STREAMER_HTTP__PORT": "0",
        "STREAMER_LOG__FORMAT": "json",
    }
    return subprocess.Popen([sys.executable, "-m", "streamer", "run"], env=env, stdout=log, stderr=log)


@pytest.mark.timeout(400)
async def test_a_killed_service_resumes_the_export_and_completes_it(
    services: Endpoints, source_db: asyncpg.Connection, destination_db: asyncpg.Connection, leads: Any,
    jobs: list[str], unique: str, tmp_path: Path,
) -> None:
    """The service dies with SIGKILL mid-export; restarted, it continues the job from its cursor
    and completes it with every lead of the range landed exactly once in the counters."""
    batch = await leads(20_000, days=20)
    job = await store.create_job(source_db, kind="export", actor="pytest", start_date=batch.start,
                                 end_date=date(batch.year, 1, 31))
    assert job is not None
    jobs.append(job.id)
    with (tmp_path / "service.log").open("ab") as log:
        proc = start_service(services, unique, log)
        try:
            async def produced_some() -> bool:
                now = await job_now(source_db, job)
                return now.status == "running" and 0 < now.produced_leads < 20_000

            await wait_for(produced_some, seconds=120)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed_at = await job_now(source_db, job)
            assert killed_at.status == "running"
            proc = start_service(services, unique, log)

            async def completed() -> bool:
                return (await job_now(source_db, job)).status == "completed"

            await wait_for(completed, seconds=300, every=0.5)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    done = await job_now(source_db, job)
    print(f"\nkilled at {killed_at.produced_leads} of 20,000 produced; completed {done.exported_leads} landed")
    assert (done.total_leads, done.exported_leads, done.error_leads) == (20_000, 20_000, 0)
    landed = await destination_db.fetchval("SELECT count(*) FROM leads WHERE id >= $1 AND id < $2",
                                           batch.first_id, batch.first_id + 20_000)
    assert landed == 20_000
    await destination_db.execute("DELETE FROM leads WHERE id >= $1 AND id < $2", batch.first_id,
                                 batch.first_id + 20_000)
