"""Schema drift mid-stream: the sink pauses instead of misfiling, and resumes once fixed."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

import pytest

from tests.streamer.sink.pipeline import Pipeline, running
from tests.streamer.sink.test_sink_pipeline import insert

pytestmark = pytest.mark.integration


def validate_schema(p: Pipeline) -> subprocess.CompletedProcess[str]:
    s = p.settings()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_")} | {
        "STREAMER_SOURCE__DSN": p.services.source_dsn, "STREAMER_SOURCE__TABLE": p.table,
        "STREAMER_DESTINATION__URL": s.destination.url, "STREAMER_DESTINATION__SERVICE_KEY": p.services.service_key,
        "STREAMER_DESTINATION__DSN": p.services.destination_dsn, "STREAMER_DESTINATION__TABLE": p.table,
        "COLUMNS": "200",
    }
    return subprocess.run([sys.executable, "-m", "streamer", "validate", "schema", "--no-cache"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.timeout(300)
async def test_a_column_added_at_the_source_pauses_the_sink_until_the_destination_has_it(
    pipeline: Pipeline,
) -> None:
    """The sink stops on PGRST204 without filing errors; validate schema prints the ALTER;
    applying it and reloading the cache lets the sink resume and the destination converge."""
    async with running(pipeline.settings()) as metrics:
        await insert(pipeline, 1, 200)
        await pipeline.converged(seconds=60)
        await pipeline.source.execute(f"ALTER TABLE {pipeline.table} ADD COLUMN apelido text")
        await pipeline.source.execute(f"UPDATE {pipeline.table} SET apelido = 'Nina ' || id WHERE id <= 100")
        await insert(pipeline, 201, 100, seed=5)
        def drift_seen() -> float:
            return metrics.registry.get_sample_value("streamer_sink_requests_total", {"outcome": "schema_drift"}) or 0

        def paused() -> float:
            return metrics.registry.get_sample_value("streamer_sink_partitions_paused") or 0

        # The lander reports the drift; the consume loop pauses fetching on its next turn.
        for _ in range(100):
            if drift_seen() and paused():
                break
            await asyncio.sleep(0.1)
        assert drift_seen()
        assert paused() >= 1

        report = validate_schema(pipeline)
        assert report.returncode == 1, report.stdout + report.stderr
        alter = re.search(rf'ALTER TABLE[^;]*{pipeline.table}[^;]*ADD COLUMN IF NOT EXISTS "apelido" text;',
                          report.stdout)
        assert alter, report.stdout
        await pipeline.destination.execute(alter.group(0))
        await pipeline.reload_destination_schema("apelido")
        src, dst = await pipeline.converged(seconds=120)
    assert src == dst and len(dst) == 300
    assert dst[1]["apelido"] == "Nina 1"
    misfiled = await pipeline.source.fetchval(
        "SELECT count(*) FROM gestao_scouter_export_errors WHERE lead_snapshot ? 'apelido' "
        "AND created_at > now() - interval '10 minutes'")
    assert misfiled == 0
    assert validate_schema(pipeline).returncode == 0
