"""The `exporter` component: runs export, retry and replay jobs, and creates scheduled ones.

Every `history.poll_seconds` it takes up pending and running jobs (a running job whose runner
died, in this process or another, continues from its cursor: the job's advisory lock says
whether someone runs it), completes the produced jobs the sink has fully reported on (no runner
waits for them, so they hold no slot of `max_concurrent_jobs`), creates the scheduled job of a
due fire time, and refreshes the job metrics. On SIGTERM the runners stop between pages,
leaving their jobs `running` for the next start.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import asyncpg

from connectors.postgres import slot as pg
from connectors.postgres.errors import PostgresError
from streamer.config import Settings
from streamer.history.export import settle_jobs
from streamer.history.replay import LandBurst
from streamer.history.runner import fail_job, run_job
from streamer.history.schedule import due_fire_time, window
from streamer.lifecycle import wait_until_set
from streamer.logging import get_logger
from streamer.metrics import Metrics
from streamer.state import store
from streamer.state.store import Job

log = get_logger(__name__)


class ExporterComponent:
    name = "exporter"

    def __init__(self, settings: Settings, metrics: Metrics, *, land: LandBurst) -> None:
        self.settings, self.metrics, self.land = settings, metrics, land
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._not_before: dict[str, float] = {}  # job id -> monotonic time of the next attempt
        self._backoff: dict[str, float] = {}
        self._last_fire: object = None
        self._ready = False

    def ready(self) -> bool:
        return self._ready

    async def run(self, stopping: asyncio.Event) -> None:
        backoff = 1.0
        try:
            while not stopping.is_set():
                try:
                    await self._loop(stopping)
                except (PostgresError, OSError) as exc:
                    if not getattr(exc, "retriable", True):
                        raise
                    log.warning("exporter lost the source, reconnecting", error=str(exc), retry_in=backoff)
                finally:
                    self._ready = False
                await wait_until_set(stopping, backoff)
                backoff = min(backoff * 2, 30.0)
        finally:
            if self._tasks:
                await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _loop(self, stopping: asyncio.Event) -> None:
        async with pg.connect(self.settings.source.dsn.get_secret_value()) as conn:
            self._ready = True
            while not stopping.is_set():
                await self.tick(conn, stopping)
                await wait_until_set(stopping, self.settings.history.poll_seconds)

    async def tick(self, conn: asyncpg.Connection, stopping: asyncio.Event) -> None:
        """One round: reap finished runners, create a due scheduled job, start runners, metrics."""
        self._tasks = {k: t for k, t in self._tasks.items() if not t.done()}
        await self._schedule(conn)
        now = time.monotonic()
        for job_id in await settle_jobs(conn):
            log.info("job completed", job_id=job_id)
        for job in await store.runnable_jobs(conn):
            waiting = job.produced_at is not None and job.kind != "replay"  # settle_jobs' business
            if waiting or job.id in self._tasks or self._not_before.get(job.id, 0) > now:
                continue
            if len(self._tasks) >= self.settings.history.max_concurrent_jobs:
                break
            self._tasks[job.id] = asyncio.create_task(self._run_one(job, stopping), name=f"job-{job.id}")
        counts, stuck = await store.status_counts(conn, timedelta(seconds=self.settings.history.stuck_after_seconds))
        self.metrics.history_jobs(counts, stuck)

    async def _run_one(self, job: Job, stopping: asyncio.Event) -> None:
        try:
            outcome = await run_job(self.settings, self.metrics, job, stopping, land=self.land, settle=False)
            self._backoff.pop(job.id, None)
            log.info("job runner returned", job_id=job.id, outcome=outcome)
        except Exception as exc:  # each job fails alone; the component goes on with the others
            if getattr(exc, "retriable", False):
                delay = self._backoff[job.id] = min(self._backoff.get(job.id, 1.0) * 2, 60.0)
                self._not_before[job.id] = time.monotonic() + delay
                log.warning("job interrupted, will continue", job_id=job.id, error=str(exc), retry_in=delay)
                return
            log.error("job failed", job_id=job.id, error=f"{type(exc).__name__}: {exc}")
            try:
                await fail_job(self.settings, job, f"{type(exc).__name__}: {exc}")
            except PostgresError as again:
                log.warning("could not mark the job failed", job_id=job.id, error=str(again))

    async def _schedule(self, conn: asyncpg.Connection) -> None:
        h = self.settings.history
        if h.schedule is None:
            return
        fire = due_fire_time(h.schedule, await store.db_now(conn), timedelta(seconds=h.schedule_misfire_seconds),
                             h.timezone)
        if fire is None or fire == self._last_fire:
            return
        start, end = window(fire, h.schedule_window_days, h.timezone)
        job = await store.create_job(conn, kind="export", actor="scheduler", start_date=start, end_date=end,
                                     date_field=h.schedule_date_field, schedule=h.schedule, scheduled_for=fire)
        self._last_fire = fire
        if job is not None:
            log.info("scheduled export created", job_id=job.id, fire_time=fire.isoformat(), start=start, end=end)
