"""An export page read before a delete, produced after it, must not bring the leads back."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from connectors.kafka.client import Producer
from schemas.event import from_row, now_ms, to_record
from tests.streamer.sink.pipeline import Pipeline, running
from tests.streamer.sink.test_sink_pipeline import insert

pytestmark = pytest.mark.integration


@pytest.mark.timeout(300)
async def test_an_export_page_read_before_a_delete_does_not_resurrect_the_leads(pipeline: Pipeline) -> None:
    """The race of an export (or snapshot) with the call centre: the page is read, ten of its
    leads are deleted and the capture's deletes land first, then the page reaches the topic.
    The ten stay deleted at the destination; the page's other leads are re-landed unchanged."""
    settings = pipeline.settings()
    async with running(settings) as metrics:
        await insert(pipeline, 1, 100)
        await pipeline.converged(seconds=60)
        page = [orjson.loads(r["row"]) for r in await pipeline.source.fetch(
            f"SELECT row_to_json(t)::text AS row FROM {pipeline.table} t WHERE id <= 20 ORDER BY id")]
        await pipeline.source.execute(f"DELETE FROM {pipeline.table} WHERE id <= 10")
        src, dst = await pipeline.converged(seconds=60)
        assert src == dst and not set(range(1, 11)) & dst.keys()

        async with Producer(settings.kafka) as producer:
            await producer.send_batch(settings.kafka.leads_topic, [to_record(from_row(
                "r", None, row, connector="export", db="tabuladormax", table=pipeline.table, ts_ms=now_ms(),
                snapshot=True)) for row in page])

        def skipped() -> float:
            return metrics.registry.get_sample_value(
                "streamer_sink_events_skipped_total", {"reason": "predates_delete"}) or 0

        for _ in range(300):
            if skipped() >= 10:
                break
            await asyncio.sleep(0.1)
        assert skipped() == 10
        src, dst = await pipeline.converged(seconds=60)
    assert src == dst
    assert sorted(dst) == list(range(11, 101))
