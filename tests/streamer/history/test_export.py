"""Export jobs on real PostgreSQL and Kafka: the range's rows, pause/resume, restart, reset."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import pytest

from devstack.stack import Endpoints
from schemas.event import header
from streamer.config import Settings
from streamer.history.component import ExporterComponent
from streamer.history.runner import run_job
from streamer.metrics import Metrics
from streamer.sink.component import land_burst
from streamer.state import audit, store
from tests.streamer.history.conftest import FakeSink, history_settings, job_now, read_events, wait_for

pytestmark = pytest.mark.integration


async def start_export(conn: asyncpg.Connection, jobs: list[str], start: date, end: date,
                       date_field: str = "criado") -> store.Job:
    job = await store.create_job(conn, kind="export", actor="pytest", start_date=start, end_date=end,
                                 date_field=date_field)
    assert job is not None
    jobs.append(job.id)
    return job


def ids_of(events: list[dict[str, Any]], job_id: str) -> list[int]:
    """The leads of `job_id`'s events: the job is named in the `job_id` header."""
    return [e["after"]["id"] for e in events if header(e["_headers"], "job_id") == job_id]


async def run_with_sink(services: Endpoints, settings: Settings, job: store.Job, *,
                        fail: frozenset[int] = frozenset(), seconds: float = 120) -> str:
    """Run `job` to its end while a FakeSink lands its events (refusing the leads in `fail`);
    return the runner's outcome."""
    stopping = asyncio.Event()
    sink_task = asyncio.create_task(FakeSink(settings.kafka, services.source_dsn, fail=set(fail)).run(stopping))
    try:
        return await asyncio.wait_for(run_job(settings, Metrics(), job, stopping, land=land_burst), seconds)
    finally:
        stopping.set()
        await sink_task


async def runner_past(conn: asyncpg.Connection, settings: Settings, job: store.Job, produced: int,
                      stopping: asyncio.Event | None = None) -> asyncio.Task[str]:
    """A runner of `job` (no sink), returned once it has produced at least `produced` leads."""
    runner = asyncio.create_task(run_job(settings, Metrics(), job, stopping or asyncio.Event(), land=land_burst))
    await wait_for(lambda: _produced_at_least(conn, job, produced))
    return runner


async def test_export_produces_exactly_the_ranges_rows_as_op_r_events_in_date_id_order(
    services: Endpoints, source_db: asyncpg.Connection, leads: Any, jobs: list[str], unique: str
) -> None:
    """Only the range's rows reach the topic, once each, as op=r export events carrying the job id
    (body and header), each partition in (criado, id) order; the job completes once all land."""
    batch = await leads(523, days=10)
    settings = history_settings(services, unique, page_size=50)
    job = await start_export(source_db, jobs, date(batch.year, 1, 3), date(batch.year, 1, 7))
    expected = [r["id"] for r in await source_db.fetch(
        "SELECT id FROM leads WHERE criado >= $1 AND criado < $2 ORDER BY criado, id",
        datetime(batch.year, 1, 3, tzinfo=UTC), datetime(batch.year, 1, 8, tzinfo=UTC))]
    assert 100 < len(expected) < len(batch.ids)
    assert await run_with_sink(services, settings, job) == "completed"
    events = await read_events(settings.kafka, settings.kafka.leads_topic, count=len(expected))
    assert sorted(ids_of(events, job.id)) == sorted(expected) and len(events) == len(expected)
    assert all(e["op"] == "r" and e["source"]["snapshot"] == "incremental" for e in events)
    assert all(header(e["_headers"], "job_id") == job.id for e in events)
    assert all(header(e["_headers"], "job_generation") == "0" for e in events)
    rank = {lead: i for i, lead in enumerate(expected)}
    for partition in {e["_partition"] for e in events}:
        order = [rank[e["after"]["id"]] for e in sorted(events, key=lambda e: e["_offset"])
                 if e["_partition"] == partition]
        assert order == sorted(order)
    done = await job_now(source_db, job)
    assert (done.status, done.total_leads, done.produced_leads, done.exported_leads, done.error_leads) == (
        "completed", len(expected), len(expected), len(expected), 0)
    assert done.last_completed_date == date(batch.year, 1, 7) and done.finished_at is not None


async def test_pause_then_resume_misses_no_lead_and_repeats_none(
    services: Endpoints, source_db: asyncpg.Connection, leads: Any, jobs: list[str], unique: str
) -> None:
    """Pausing mid-way stops production with the cursor saved; resuming continues from it: every
    lead of the range is produced, and (since the paused page is kept) none twice."""
    batch = await leads(3000, days=5)
    settings = history_settings(services, unique, page_size=20)
    job = await start_export(source_db, jobs, batch.start, date(batch.year, 1, 31))
    runner = await runner_past(source_db, settings, job, 200)
    await store.act(source_db, job.id, "pause", actor="ana")
    assert await asyncio.wait_for(runner, 30) == "paused"
    paused = await job_now(source_db, job)
    assert paused.status == "paused" and 0 < paused.produced_leads < len(batch.ids)
    await asyncio.sleep(0.5)
    assert (await job_now(source_db, job)).produced_leads == paused.produced_leads  # nothing produced while paused
    await store.act(source_db, job.id, "resume", actor="ana")
    assert await run_with_sink(services, settings, job) == "completed"
    produced = Counter(ids_of(await read_events(settings.kafka, settings.kafka.leads_topic, count=3000), job.id))
    assert set(produced) == set(batch.ids)
    duplicates = sum(n - 1 for n in produced.values())
    assert duplicates == 0, f"{duplicates} leads produced twice"
    done = await job_now(source_db, job)
    assert (done.exported_leads, done.total_leads) == (3000, 3000)
    actions = [(e.actor, e.action) for e in await audit.entries(source_db, job_id=job.id)]
    assert actions == [("ana", "job.resume"), ("ana", "job.pause"), ("pytest", "export.start")]


async def _produced_at_least(conn: asyncpg.Connection, job: store.Job, n: int) -> bool:
    return (await job_now(conn, job)).produced_leads >= n


async def test_a_killed_runner_is_continued_from_the_cursor_by_the_exporter_component(
    services: Endpoints, source_db: asyncpg.Connection, leads: Any, jobs: list[str], unique: str
) -> None:
    """A runner cancelled mid-export (its connection, hence its lock, gone) leaves the job running;
    the exporter component takes it up from the cursor: all leads produced, at most a page twice."""
    batch = await leads(2000, days=5)
    settings = history_settings(services, unique, page_size=25)
    job = await start_export(source_db, jobs, batch.start, date(batch.year, 12, 31))
    runner = await runner_past(source_db, settings, job, 300)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    interrupted = await job_now(source_db, job)
    assert interrupted.status == "running" and interrupted.produced_leads < 2000 and interrupted.cursor
    stopping = asyncio.Event()
    sink = FakeSink(settings.kafka, services.source_dsn)
    tasks = [asyncio.create_task(sink.run(stopping)),
             asyncio.create_task(ExporterComponent(settings, Metrics(), land=land_burst).run(stopping))]
    await wait_for(lambda: _status_is(source_db, job, "completed"), seconds=120)
    stopping.set()
    await asyncio.gather(*tasks)
    produced = Counter(ids_of(await read_events(settings.kafka, settings.kafka.leads_topic, count=2000), job.id))
    assert set(produced) == set(batch.ids)
    assert sum(n - 1 for n in produced.values()) <= 25
    assert (await job_now(source_db, job)).exported_leads == 2000


async def _status_is(conn: asyncpg.Connection, job: store.Job, status: str) -> bool:
    return (await job_now(conn, job)).status == status


async def test_reset_clears_counters_errors_and_progress_then_runs_again(
    services: Endpoints, source_db: asyncpg.Connection, leads: Any, jobs: list[str], unique: str
) -> None:
    """After a run with failures, reset zeroes the counters, deletes the job's error and progress
    rows and the cursor, and the job runs again to completion."""
    batch = await leads(120, days=2)
    settings = history_settings(services, unique, page_size=40)
    job = await start_export(source_db, jobs, batch.start, date(batch.year, 1, 10))
    assert await run_with_sink(services, settings, job, fail=frozenset(batch.ids[:7])) == "completed"
    first = await job_now(source_db, job)
    assert (first.exported_leads, first.error_leads) == (113, 7)
    reset = await store.act(source_db, job.id, "reset", actor="ana")
    assert (reset.status, reset.total_leads, reset.exported_leads, reset.error_leads, reset.produced_leads,
            reset.cursor, reset.started_at, reset.generation) == ("pending", 0, 0, 0, 0, None, None, 1)
    for table in ("gestao_scouter_export_errors", "gestao_scouter_export_job_leads"):
        assert await source_db.fetchval(f"SELECT count(*) FROM {table} WHERE job_id = $1::uuid", job.id) == 0
    assert await run_with_sink(services, settings, reset, seconds=180) == "completed"
    again = await job_now(source_db, job)
    assert (again.status, again.exported_leads, again.error_leads, again.total_leads) == ("completed", 120, 0, 120)


async def test_a_runner_of_a_reset_generation_stops_without_writing(
    services: Endpoints, source_db: asyncpg.Connection, leads: Any, jobs: list[str], unique: str
) -> None:
    """A reset while a runner produces makes its next cursor save fail: it returns "reset"."""
    batch = await leads(3000, days=3)
    settings = history_settings(services, unique, page_size=10)
    job = await start_export(source_db, jobs, batch.start, date(batch.year, 1, 31))
    runner = await runner_past(source_db, settings, job, 50)
    await store.act(source_db, job.id, "reset", actor="ana")
    assert await asyncio.wait_for(runner, 30) == "reset"
    after = await job_now(source_db, job)
    assert (after.status, after.produced_leads, after.cursor) == ("pending", 0, None)


async def test_cancel_stops_the_runner_and_is_final(
    services: Endpoints, source_db: asyncpg.Connection, leads: Any, jobs: list[str], unique: str
) -> None:
    """A cancelled job stops producing, and pause or resume are refused afterwards."""
    batch = await leads(3000, days=3)
    settings = history_settings(services, unique, page_size=10)
    job = await start_export(source_db, jobs, batch.start, date(batch.year, 1, 31))
    runner = await runner_past(source_db, settings, job, 50)
    await store.act(source_db, job.id, "cancel", actor="ana")
    assert await asyncio.wait_for(runner, 30) == "reset"  # the cursor save is refused, as after a reset
    assert (await job_now(source_db, job)).status == "cancelled"
    with pytest.raises(Exception, match="cannot resume"):
        await store.act(source_db, job.id, "resume", actor="ana")


async def test_a_second_runner_of_the_same_job_is_refused_by_the_lock(
    services: Endpoints, source_db: asyncpg.Connection, leads: Any, jobs: list[str], unique: str
) -> None:
    """While one process runs a job, another one's attempt returns "busy" and produces nothing."""
    batch = await leads(3000, days=3)
    settings = history_settings(services, unique, page_size=10)
    job = await start_export(source_db, jobs, batch.start, date(batch.year, 1, 31))
    stopping = asyncio.Event()
    runner = await runner_past(source_db, settings, job, 10, stopping)
    assert await run_job(settings, Metrics(), job, asyncio.Event(), land=land_burst) == "busy"
    stopping.set()
    assert await asyncio.wait_for(runner, 30) == "stopped"
    assert (await job_now(source_db, job)).status == "running"  # a stopped service leaves it to the next one


async def test_scheduled_jobs_are_created_once_per_fire_time(
    source_db: asyncpg.Connection, migrated: None, jobs: list[str]
) -> None:
    """Two exporters (or a restart) creating the job of one fire time make a single job."""
    fire = datetime(2199, 1, 1, 3, tzinfo=UTC)
    first = await store.create_job(source_db, kind="export", actor="scheduler", start_date=date(2198, 12, 31),
                                   end_date=date(2199, 1, 1), schedule="0 3 * * *", scheduled_for=fire)
    assert first is not None
    jobs.append(first.id)
    again = await store.create_job(source_db, kind="export", actor="scheduler", start_date=date(2198, 12, 31),
                                   end_date=date(2199, 1, 1), schedule="0 3 * * *", scheduled_for=fire)
    assert again is None
