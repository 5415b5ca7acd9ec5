"""Key-ordered concurrency through the real capture, Kafka and PostgREST-compatible server."""

from __future__ import annotations

import itertools

import pytest

from tests.streamer.sink.pipeline import Pipeline, running
from tests.streamer.sink.test_sink_pipeline import insert
from tests.wait import until

pytestmark = pytest.mark.integration


@pytest.mark.timeout(120)
async def test_one_partition_lands_disjoint_batches_together_and_each_lead_in_order(pipeline: Pipeline) -> None:
    """On a one-partition topic, with 100 ms added to every request: several batches are in flight
    at once, and every lead's versions reach the destination in the order they were written (no
    stale-write guard there to hide an overtaking)."""
    table, audit = pipeline.table, f"{pipeline.table}_audit"
    dst = pipeline.destination
    await dst.execute(f"DROP TRIGGER guard ON {table}")
    await dst.execute(f"CREATE TABLE {audit} (seq bigserial, id bigint, attempt int)")
    await dst.execute(f"""CREATE FUNCTION {audit}_log() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
        BEGIN INSERT INTO {audit} (id, attempt) VALUES (NEW.id, NEW.tentativas_contato); RETURN NEW; END $$""")
    await dst.execute(f"CREATE TRIGGER audit AFTER INSERT OR UPDATE ON {table} "
                      f"FOR EACH ROW EXECUTE FUNCTION {audit}_log()")
    settings = pipeline.settings()
    settings = settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"partitions": 1})})
    await pipeline.admin("POST", "faults", latency_ms=100, table=table)
    try:
        async with running(settings) as metrics:
            def in_flight() -> float:
                return metrics.registry.get_sample_value("streamer_sink_batches_in_flight") or 0

            peak = 0.0

            def seen_together() -> bool:
                nonlocal peak
                peak = max(peak, in_flight())
                return peak >= 2

            await insert(pipeline, 1, 300, chunk=300)  # one transaction: 6 batches of 50 at once
            await until(seen_together, seconds=60, every=0.005)
            for _ in range(4):  # each lead changes again while its previous change may be in flight
                for first in range(1, 301, 60):
                    await pipeline.source.execute(
                        f"UPDATE {table} SET tentativas_contato = tentativas_contato + 1 "
                        "WHERE id BETWEEN $1 AND $2", first, first + 59)
            src, dst_rows = await pipeline.converged(seconds=60)
        assert src == dst_rows and len(src) == 300
        history = await dst.fetch(f"SELECT id, attempt FROM {audit} ORDER BY seq")
        by_lead = {lead: [r["attempt"] for r in rows]
                   for lead, rows in itertools.groupby(sorted(history, key=lambda r: r["id"]), key=lambda r: r["id"])}
        assert len(by_lead) == 300
        assert all(versions == sorted(versions) for versions in by_lead.values())
    finally:
        await pipeline.admin("DELETE", "faults")
        await dst.execute(f"DROP TABLE IF EXISTS {table}")
        await dst.execute(f"DROP FUNCTION IF EXISTS {audit}_log()")
        await dst.execute(f"DROP TABLE IF EXISTS {audit}")
