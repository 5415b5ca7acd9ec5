"""Progress counters, error retries and purges on real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest

from devstack.stack import Endpoints
from schemas.event import header
from streamer.history.runner import run_job
from streamer.metrics import Metrics
from streamer.sink.component import land_burst
from streamer.state import audit, failures, store
from streamer.state.progress import record_outcomes
from tests.streamer.history.conftest import FakeSink, history_settings, job_now, read_events

pytestmark = pytest.mark.integration


async def new_job(conn: asyncpg.Connection, jobs: list[str], year: int = 1500) -> store.Job:
    job = await store.create_job(conn, kind="export", actor="pytest", start_date=date(year, 1, 1),
                                 end_date=date(year, 1, 2))
    assert job is not None
    jobs.append(job.id)
    return job


async def test_record_outcomes_counts_each_lead_once_and_a_landed_retry_moves_it(
    source_db: asyncpg.Connection, migrated: None, jobs: list[str]
) -> None:
    """Redelivered batches do not count twice; failed then landed counts as landed; landed never
    goes back to failed."""
    job = await new_job(source_db, jobs)
    await record_outcomes(source_db, job.id, landed=[1, 2, 3], failed=[4, 5])
    await record_outcomes(source_db, job.id, landed=[1, 2, 3], failed=[4, 5])
    assert ((j := await job_now(source_db, job)).exported_leads, j.error_leads) == (3, 2)
    await record_outcomes(source_db, job.id, landed=[4])
    await record_outcomes(source_db, job.id, failed=[1])
    assert ((j := await job_now(source_db, job)).exported_leads, j.error_leads) == (4, 1)


async def test_a_report_naming_a_lead_twice_counts_it_once(
    source_db: asyncpg.Connection, migrated: None, jobs: list[str]
) -> None:
    """A batch that carries a lead twice (its events of two runs), or both landed and failed,
    is one row per lead, landed winning, not a database error."""
    job = await new_job(source_db, jobs)
    await record_outcomes(source_db, job.id, landed=[1, 1, 2], failed=[2, 3, 3])
    assert ((j := await job_now(source_db, job)).exported_leads, j.error_leads) == (2, 1)


async def insert_error(conn: asyncpg.Connection, job_id: str | None, lead_id: int, *, age: timedelta = timedelta(0)
                       ) -> int:
    value: int = await conn.fetchval(
        "INSERT INTO gestao_scouter_export_errors (job_id, lead_id, error_message, response_status, created_at) "
        "VALUES ($1::uuid, $2, 'column missing', 400, now() - $3::interval) RETURNING id", job_id, lead_id, age)
    return value


async def test_retry_resends_current_state_and_clears_the_errors_of_leads_that_land(
    services: Endpoints, source_db: asyncpg.Connection, leads: Any, jobs: list[str], unique: str
) -> None:
    """A retry produces the failed leads' current source rows with the retry job's id; error rows
    of leads that land are deleted and counted landed in their original job; the rest stay."""
    batch = await leads(6, days=1)
    original = await new_job(source_db, jobs, batch.year)
    await record_outcomes(source_db, original.id, landed=batch.ids[:2], failed=batch.ids[2:5])
    error_ids = [await insert_error(source_db, original.id, lead) for lead in batch.ids[2:5]]
    orphan = await insert_error(source_db, None, batch.ids[5])  # a continuous-sync failure, no job
    await source_db.execute("UPDATE leads SET name = 'fixed' WHERE id = ANY($1::bigint[])", batch.ids)
    created = await failures.create_retry_or_none(source_db, actor="ana", error_ids=(*error_ids, orphan))
    assert created is not None and created[1] == 4
    retry = created[0]
    jobs.append(retry.id)
    settings = history_settings(services, unique, page_size=2)
    stopping = asyncio.Event()
    sink_task = asyncio.create_task(FakeSink(settings.kafka, services.source_dsn, fail={batch.ids[4]}).run(stopping))
    assert await asyncio.wait_for(run_job(settings, Metrics(), retry, stopping, land=land_burst), 60) == "completed"
    stopping.set()
    await sink_task
    events = await read_events(settings.kafka, settings.kafka.leads_topic, count=4)
    assert sorted(e["after"]["id"] for e in events) == sorted(batch.ids[2:6])
    assert {e["after"]["name"] for e in events} == {"fixed"}
    assert {header(e["_headers"], "job_id") for e in events} == {retry.id}
    left = await source_db.fetch("SELECT id FROM gestao_scouter_export_errors WHERE id = ANY($1::bigint[])",
                                 [*error_ids, orphan])
    assert [r["id"] for r in left] == [error_ids[2]]  # the lead that failed again keeps its row
    assert ((j := await job_now(source_db, original)).exported_leads, j.error_leads) == (4, 1)
    assert (await job_now(source_db, retry)).status == "completed"


async def test_retry_with_nothing_matching_creates_no_job(source_db: asyncpg.Connection, migrated: None) -> None:
    """Retrying error ids that do not exist writes nothing and says so."""
    before = await source_db.fetchval("SELECT count(*) FROM gestao_scouter_export_jobs WHERE kind = 'retry'")
    assert await failures.create_retry_or_none(source_db, actor="ana", error_ids=(-1, -2)) is None
    assert await source_db.fetchval("SELECT count(*) FROM gestao_scouter_export_jobs WHERE kind = 'retry'") == before


async def test_purge_deletes_only_rows_older_than_the_age_and_is_audited(
    source_db: asyncpg.Connection, migrated: None, jobs: list[str]
) -> None:
    """`errors purge --older-than 90d` removes the 100-day-old row, keeps the 10-day-old one."""
    job = await new_job(source_db, jobs)
    old = await insert_error(source_db, job.id, 1, age=timedelta(days=100))
    recent = await insert_error(source_db, job.id, 2, age=timedelta(days=10))
    deleted = await failures.purge(source_db, timedelta(days=90), actor="ana")
    assert deleted >= 1
    left = {r["id"] for r in await source_db.fetch(
        "SELECT id FROM gestao_scouter_export_errors WHERE id = ANY($1::bigint[])", [old, recent])}
    assert left == {recent}
    entry = (await audit.entries(source_db, limit=5))[0]
    assert (entry.actor, entry.action, entry.parameters["deleted"]) == ("ana", "errors.purge", deleted)
    await source_db.execute("DELETE FROM streamer_audit_log WHERE action = 'errors.purge' AND actor = 'ana'")


async def test_concurrent_reports_for_one_job_count_every_lead(
    services: Endpoints, source_db: asyncpg.Connection, migrated: None, jobs: list[str]
) -> None:
    """Batches of one job landing at the same time (two partitions) add up, none overwriting the
    other's count."""
    job = await new_job(source_db, jobs)
    conns = [await asyncpg.connect(services.source_dsn) for _ in range(4)]
    try:
        await asyncio.gather(*(record_outcomes(c, job.id, landed=list(range(i * 100, i * 100 + 100)))
                               for i, c in enumerate(conns)))
    finally:
        for c in conns:
            await c.close()
    assert (await job_now(source_db, job)).exported_leads == 400


async def test_late_outcomes_of_a_reset_run_count_toward_nothing(
    source_db: asyncpg.Connection, migrated: None, jobs: list[str]
) -> None:
    """Outcomes of generation N reported after a reset (generation N+1) are dropped: the new run's
    counters and outcome rows stay at zero. Outcomes of N+1 count, and so does a report naming
    no generation (events produced before generations were carried)."""
    job = await new_job(source_db, jobs)
    assert await record_outcomes(source_db, job.id, landed=[1, 2], failed=[3], generation=job.generation)
    assert ((j := await job_now(source_db, job)).exported_leads, j.error_leads) == (2, 1)
    reset = await store.act(source_db, job.id, "reset", actor="pytest")
    assert reset.generation == job.generation + 1
    assert not await record_outcomes(source_db, job.id, landed=[1, 2, 4], failed=[3, 5], generation=job.generation)
    assert ((j := await job_now(source_db, reset)).exported_leads, j.error_leads) == (0, 0)
    assert await source_db.fetchval(
        "SELECT count(*) FROM gestao_scouter_export_job_leads WHERE job_id = $1::uuid", job.id) == 0
    assert await record_outcomes(source_db, job.id, landed=[1], failed=[3], generation=reset.generation)
    assert await record_outcomes(source_db, job.id, landed=[2])
    assert ((j := await job_now(source_db, reset)).exported_leads, j.error_leads) == (2, 1)
