"""Running one job wherever it is asked for (the exporter component, `streamer jobs run`): take
the job's advisory lock, then produce an export or retry (`export.JobRunner`) or land a replay
(`replay.run_replay`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import asyncpg

from connectors.kafka.client import Admin, Producer
from connectors.postgres import slot as pg
from connectors.postgres.errors import translate_errors
from streamer.config import Settings
from streamer.history.export import JobRunner, lock_key
from streamer.history.replay import LandBurst, run_replay
from streamer.metrics import Metrics
from streamer.state import store
from streamer.state.jobs import Outcome
from streamer.state.store import Job


@asynccontextmanager
async def job_lock(settings: Settings, job_id: str) -> AsyncIterator[asyncpg.Connection | None]:
    """A connection holding the job's advisory lock, or None when another process runs the job.

    The lock is the connection's: a killed runner's socket closes, PostgreSQL releases it, and
    the next exporter takes the job up from its cursor."""
    async with pg.connect(settings.source.dsn.get_secret_value()) as conn:
        with translate_errors("take the job lock"):
            locked = await conn.fetchval("SELECT pg_try_advisory_lock($1::bigint)", lock_key(job_id))
        yield conn if locked else None


async def run_job(settings: Settings, metrics: Metrics, job: Job, stopping: asyncio.Event, *,
                  land: LandBurst, settle: bool = True) -> Outcome:
    """Run `job` here until it completes, pauses, is cancelled or reset, or `stopping` is set;
    "busy" when another process holds it. Retriable errors propagate (the caller retries later).
    With `settle=False` it returns "produced" once every row is produced, and the exporter's
    `settle_jobs` completes the job when the sink's counters reach its total. A replay lands its
    events with `land` (the sink in burst mode, given by the caller: cli/components.py)."""
    async with AsyncExitStack() as stack:
        conn = await stack.enter_async_context(job_lock(settings, job.id))
        if conn is None:
            return "busy"
        job = await store.current(conn, job) or job
        if job.kind == "replay":
            return await run_replay(settings, metrics, conn, job, stopping, land=land)
        async with Admin(settings.kafka) as admin:
            await admin.ensure_topic(settings.kafka.leads_topic)
        producer = await stack.enter_async_context(Producer(settings.kafka, topics=(settings.kafka.leads_topic,)))
        return await JobRunner(settings, metrics, conn, producer, stopping).run(job, settle=settle)


async def fail_job(settings: Settings, job: Job, error: str) -> None:
    """Mark the job failed with `error` (a permanent problem: a missing table, a refused topic)."""
    async with pg.connect(settings.source.dsn.get_secret_value()) as conn:
        fresh = await store.current(conn, job)
        if fresh is not None:
            await store.finish(conn, fresh, "fail", error=error[:2000])
