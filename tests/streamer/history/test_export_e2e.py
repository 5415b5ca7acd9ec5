"""End to end with the real sink: exports, replays and retries land at the destination (issue 7's
Done-when). Runs once `streamer.sink.component` exists."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import date
from typing import Any

import asyncpg
import pytest

from connectors.kafka.client import Admin, Producer
from devstack.scratch import ScratchPair
from devstack.stack import Endpoints
from schemas.event import from_row, to_record
from streamer.config import Settings
from streamer.history import replay
from streamer.history.component import ExporterComponent
from streamer.history.runner import run_job
from streamer.metrics import Metrics
from streamer.sections import SinkSettings
from streamer.sink.component import land_burst
from streamer.state import failures, store
from tests.streamer.history.conftest import history_settings, job_now, wait_for

sink_component = pytest.importorskip("streamer.sink.component")
pytestmark = [pytest.mark.integration, pytest.mark.slow]
N = int(os.environ.get("HISTORY_E2E_LEADS", "50000"))


def e2e_settings(services: Endpoints, unique: str, **history: Any) -> Settings:
    base = history_settings(services, unique, **history)
    return base.model_copy(update={"sink": SinkSettings(group_id=f"sink-{unique}")})


@pytest.fixture
async def destination_ids(destination_db: asyncpg.Connection) -> Any:
    """Ids a test lands at the destination; deleted afterwards."""
    ranges: list[tuple[int, int]] = []
    yield ranges
    for low, high in ranges:
        await destination_db.execute("DELETE FROM leads WHERE id >= $1 AND id < $2", low, high)


async def rows(conn: asyncpg.Connection, low: int, high: int, *,
               table: str = "leads") -> dict[int, tuple[Any, ...]]:
    found = await conn.fetch(f"SELECT id, name, etapa, updated_at FROM {table} WHERE id >= $1 AND id < $2",
                             low, high)
    return {r["id"]: (r["name"], r["etapa"], r["updated_at"]) for r in found}


async def produce_current(settings: Settings, conn: asyncpg.Connection, ids: list[int], op: str = "u") -> None:
    """What the continuous capture does for these leads: their current rows as change events."""
    found = await conn.fetch("SELECT row_to_json(t)::text AS row FROM leads t WHERE id = ANY($1::bigint[])", ids)
    import orjson

    async with Producer(settings.kafka) as producer:
        await producer.send_batch(settings.kafka.leads_topic, [to_record(from_row(
            op, None, orjson.loads(r["row"]), connector="postgresql", db="tabuladormax", table="leads",  # type: ignore[arg-type]
            ts_ms=int(time.time() * 1000))) for r in found])


async def test_export_of_50000_leads_lands_them_all_while_the_sync_writes(
    services: Endpoints, source_db: asyncpg.Connection, destination_db: asyncpg.Connection, leads: Any,
    jobs: list[str], destination_ids: Any, unique: str
) -> None:
    """50,000 leads exported while 1,000 of them change and their change events flow too: the
    destination equals the source afterwards and the job's counters equal what landed."""
    batch = await leads(N, days=300)
    destination_ids.append((batch.first_id, batch.first_id + N))
    settings = e2e_settings(services, unique, page_size=2000)
    async with Admin(settings.kafka) as admin:
        await admin.ensure_topic(settings.kafka.leads_topic)
    stopping = asyncio.Event()
    tasks = [asyncio.create_task(sink_component.SinkComponent(settings, Metrics()).run(stopping)),
             asyncio.create_task(ExporterComponent(settings, Metrics(), land=land_burst).run(stopping))]
    began = time.monotonic()
    job = await store.create_job(source_db, kind="export", actor="pytest", start_date=batch.start,
                                 end_date=date(batch.year, 12, 31))
    assert job is not None
    jobs.append(job.id)
    changed = batch.ids[::50]
    for part in range(0, len(changed), 100):  # the continuous sync, meanwhile
        ids = changed[part:part + 100]
        await source_db.execute("UPDATE leads SET etapa = 'contato' WHERE id = ANY($1::bigint[])", ids)
        await produce_current(settings, source_db, ids)
        await asyncio.sleep(0.2)
    await wait_for(lambda: _completed(source_db, job), seconds=600, every=0.5)
    elapsed = time.monotonic() - began
    stopping.set()
    await asyncio.gather(*tasks)
    done = await job_now(source_db, job)
    print(f"\nexport: {N:,} leads landed in {elapsed:.1f} s = {N / elapsed:,.0f} leads/s")
    assert (done.total_leads, done.exported_leads, done.error_leads) == (N, N, 0)
    source = await rows(source_db, batch.first_id, batch.first_id + N)
    target = await rows(destination_db, batch.first_id, batch.first_id + N)
    assert target == source


async def _completed(conn: asyncpg.Connection, job: store.Job) -> bool:
    return (await job_now(conn, job)).status == "completed"


async def test_replay_from_a_time_relands_only_later_events_and_spares_newer_destination_rows(
    services: Endpoints, source_db: asyncpg.Connection, destination_db: asyncpg.Connection, leads: Any,
    jobs: list[str], destination_ids: Any, unique: str
) -> None:
    """Events before T are not re-landed; those after are, except over a destination row whose
    `updated_at` is newer (the sink's guard)."""
    batch = await leads(2000, days=5)
    destination_ids.append((batch.first_id, batch.first_id + 2000))
    settings = e2e_settings(services, unique)
    async with Admin(settings.kafka) as admin:
        await admin.ensure_topic(settings.kafka.leads_topic)
    early, late = batch.ids[:1000], batch.ids[1000:]
    await produce_current(settings, source_db, early)
    await asyncio.sleep(0.1)
    t = int(time.time() * 1000)
    await asyncio.sleep(0.1)
    await produce_current(settings, source_db, late)
    guarded = late[0]
    await destination_db.execute(
        "INSERT INTO leads (id, name, updated_at) VALUES ($1, 'newer at destination', now() + interval '1 day')",
        guarded)
    topic = settings.kafka.leads_topic
    start, stop = await replay.plan_offsets(settings.kafka, topic, "plan", from_ms=t)
    job = await store.create_job(source_db, kind="replay", actor="pytest", total=replay.total_events(start, stop),
                                 options={"topic": topic, "start": replay.to_json(start), "stop": replay.to_json(stop)})
    assert job is not None and job.total_leads == 1000
    jobs.append(job.id)
    began = time.monotonic()
    runner = run_job(settings, Metrics(), job, asyncio.Event(), land=land_burst)
    assert await asyncio.wait_for(runner, 300) == "completed"
    elapsed = time.monotonic() - began
    print(f"\nreplay: 1,000 events in {elapsed:.1f} s = {1000 / elapsed:,.0f} events/s (includes sink start-up)")
    landed = await rows(destination_db, batch.first_id, batch.first_id + 2000)
    assert set(landed) == set(late)
    assert landed[guarded][0] == "newer at destination"
    assert (await job_now(source_db, job)).exported_leads == 1000


async def test_failed_leads_are_landed_by_errors_retry_once_the_destination_is_fixed(
    services: Endpoints, source_db: asyncpg.Connection, destination_db: asyncpg.Connection, leads: Any,
    jobs: list[str], destination_ids: Any, unique: str
) -> None:
    """Leads the destination refuses are recorded against the job; after the fix, a retry lands
    them, deletes their error rows and moves them from failed to landed in the job."""
    batch = await leads(300, days=3)
    low, high = batch.first_id, batch.first_id + 300
    poison = batch.ids[::30]
    await source_db.execute("UPDATE leads SET etapa = 'poison' WHERE id = ANY($1::bigint[])", poison)
    # A destination table of this test's own: DDL on the shared `leads` would wait on every other
    # user of it (and make them wait).
    pair = ScratchPair(services, f"h{unique}", source_db, destination_db)
    await pair.destination.execute(f"CREATE TABLE {pair.table} (LIKE leads INCLUDING ALL)")
    await pair.destination.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {pair.table} TO service_role")
    await pair.destination.execute(f"ALTER TABLE {pair.table} ADD CONSTRAINT no_poison "
                                   "CHECK (etapa IS DISTINCT FROM 'poison')")
    await pair.reload_destination_schema()
    base = e2e_settings(services, unique, page_size=100)
    settings = base.model_copy(update={"destination": base.destination.model_copy(update={"table": pair.table})})
    stopping = asyncio.Event()
    try:
        sink = asyncio.create_task(sink_component.SinkComponent(settings, Metrics()).run(stopping))
        job = await store.create_job(source_db, kind="export", actor="pytest", start_date=batch.start,
                                     end_date=date(batch.year, 1, 31))
        assert job is not None
        jobs.append(job.id)
        runner = run_job(settings, Metrics(), job, stopping, land=land_burst)
        assert await asyncio.wait_for(runner, 300) == "completed"
        first = await job_now(source_db, job)
        assert (first.exported_leads, first.error_leads) == (300 - len(poison), len(poison))
        await destination_db.execute(f"ALTER TABLE {pair.table} DROP CONSTRAINT no_poison")
        created = await failures.create_retry_or_none(source_db, actor="ana", job_id=job.id)
        assert created is not None
        jobs.append(created[0].id)
        runner = run_job(settings, Metrics(), created[0], stopping, land=land_burst)
        assert await asyncio.wait_for(runner, 300) == "completed"
        stopping.set()
        await sink
        assert set(await rows(destination_db, low, high, table=pair.table)) == set(batch.ids)
    finally:
        stopping.set()
        await destination_db.execute(f"DROP TABLE IF EXISTS {pair.table}")
    assert await source_db.fetchval("SELECT count(*) FROM gestao_scouter_export_errors WHERE job_id = $1::uuid",
                                    job.id) == 0
    after = await job_now(source_db, job)
    assert (after.exported_leads, after.error_leads) == (300, 0)


async def test_a_reset_replay_counts_its_events_again_when_it_runs(
    services: Endpoints, source_db: asyncpg.Connection, destination_db: asyncpg.Connection, leads: Any,
    jobs: list[str], destination_ids: Any, unique: str
) -> None:
    """A reset zeroes a replay's total like any job's; run again, the replay sets it back to its
    number of events (it used to stay 0 while exported_leads climbed past it)."""
    batch = await leads(20, days=1)
    destination_ids.append((batch.first_id, batch.first_id + 20))
    settings = e2e_settings(services, unique)
    topic = settings.kafka.leads_topic
    async with Admin(settings.kafka) as admin:
        await admin.ensure_topic(topic)
    await produce_current(settings, source_db, batch.ids)
    start, stop = await replay.plan_offsets(settings.kafka, topic, "plan", from_ms=0)
    job = await store.create_job(source_db, kind="replay", actor="pytest", total=replay.total_events(start, stop),
                                 options={"topic": topic, "start": replay.to_json(start), "stop": replay.to_json(stop)})
    assert job is not None and job.total_leads == 20
    jobs.append(job.id)
    reset = await store.act(source_db, job.id, "reset", actor="pytest")
    assert reset.total_leads == 0
    runner = run_job(settings, Metrics(), reset, asyncio.Event(), land=land_burst)
    assert await asyncio.wait_for(runner, 120) == "completed"
    final = await job_now(source_db, job)
    assert (final.total_leads, final.exported_leads) == (20, 20)
