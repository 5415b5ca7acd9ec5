"""A jsonb number no double can carry reaches Gestão Scouter exactly, and stops nothing."""

from __future__ import annotations

import pytest

from tests.streamer.sink.pipeline import Pipeline, running
from tests.streamer.sink.test_sink_pipeline import insert

pytestmark = pytest.mark.integration
EXTRA = '{"lote": 18446744073709551617, "peso": 1e400, "taxa": 0.12345678901234567890123}'


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["replication", "notify"])
async def test_huge_and_precise_jsonb_numbers_cross_unchanged(pipeline: Pipeline, mode: str) -> None:
    """Captured (pgoutput text, or the outbox's row JSON), carried in the event, upserted through
    PostgREST: the destination's jsonb equals the source's, and the leads after it land too."""
    settings = pipeline.settings()
    settings = settings.model_copy(update={"source": settings.source.model_copy(update={"capture_mode": mode})})
    async with running(settings):
        await insert(pipeline, 1, 5)
        await pipeline.source.execute(f"UPDATE {pipeline.table} SET dados_extras = $1::jsonb WHERE id = 3", EXTRA)
        await insert(pipeline, 6, 5)
        src, dst = await pipeline.converged(seconds=60)
    assert src == dst and len(dst) == 10
    query = f"SELECT dados_extras::text FROM {pipeline.table} WHERE id = 3"
    assert await pipeline.destination.fetchval(query) == await pipeline.source.fetchval(query)
    assert "18446744073709551617" in await pipeline.destination.fetchval(query)
