"""The export runner: a job's source rows into the leads topic as `op=r` events carrying its id
and generation (headers `job_id`, `job_generation`).

    claim -> count (first start) -> produce pages until none is left -> wait for the sink -> completed

1. Each page is read in keyset order, produced, and once Kafka acknowledged every record the
   cursor is saved with the count (one statement), so a restart re-produces at most one page.
2. Between pages the runner reads the job's status through that save: a pause stops it (the
   page is kept), a cancel or a reset (another generation) stops it without saving.
3. Once every row is produced, the total becomes the rows produced and the job waits until the
   sink's counters (`record_outcomes`: landed + failed) reach it, then it is `completed`. The
   sink counts only events of the job's current generation: after a reset, events the previous
   run left in the topic land but count toward nothing (`progress.py`).

A retry job (kind `retry`) is the same walk over the leads of the error rows it re-sends, keyed
by id; once the sink lands them their error rows are deleted (`failures.clear_landed`).
Replays run elsewhere (`replay.run_replay`): they re-consume the topic, they produce nothing;
`runner.run_job` takes a job's lock and runs whichever it is.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import asyncpg

from connectors.kafka.client import Producer
from connectors.postgres import slot as pg
from connectors.postgres.columns import table_columns
from connectors.postgres.errors import translate_errors
from schemas.debezium import Encoder
from schemas.event import HEADER_JOB_GENERATION, ChangeEvent, KafkaRecord, from_row, now_ms
from schemas.json_exact import loads as loads_exact
from streamer.config import Settings
from streamer.history.keyset import Cursor, DateField, count_query, day_progress, page_args, page_query, range_bounds
from streamer.lifecycle import wait_until_set
from streamer.logging import get_logger
from streamer.metrics import Metrics
from streamer.state import failures, store
from streamer.state.jobs import Outcome, is_settled
from streamer.state.store import Job

log = get_logger(__name__)

@dataclass(frozen=True, slots=True)
class Page:
    rows: list[dict[str, Any]]
    cursor: dict[str, Any]
    processing_date: date | None = None
    last_completed: date | None = None


class RowSource(Protocol):
    async def total(self, conn: asyncpg.Connection) -> int: ...

    async def page(self, conn: asyncpg.Connection, cursor: dict[str, Any] | None, limit: int) -> Page | None: ...


def table_name(settings: Settings) -> str:
    return f"{pg.quote_ident(settings.source.schema_name)}.{pg.quote_ident(settings.source.table)}"


@dataclass(frozen=True)
class DateRangeRows:
    """An export's rows: `[start, end]` by `date_field`, capped at the job's start."""

    table: str
    job: Job
    tz: str

    @property
    def _field(self) -> DateField:
        return "updated_at" if self.job.date_field == "updated_at" else "criado"

    def _bounds(self) -> tuple[Any, Any]:
        assert self.job.start_date is not None and self.job.end_date is not None, "an export job has a range"
        return range_bounds(self.job.start_date, self.job.end_date, self.tz, cap=self.job.started_at)

    async def total(self, conn: asyncpg.Connection) -> int:
        with translate_errors("count the export's rows"):
            return int(await conn.fetchval(count_query(self.table, self._field), *self._bounds()))

    async def page(self, conn: asyncpg.Connection, cursor: dict[str, Any] | None, limit: int) -> Page | None:
        after = Cursor.from_json(cursor)
        lower, upper = self._bounds()
        with translate_errors("read an export page"):
            rows = await conn.fetch(page_query(self.table, self._field, after_cursor=after is not None),
                                    *page_args(lower, upper, limit, after))
        if not rows:
            return None
        last = rows[-1]
        assert self.job.start_date is not None
        processing, completed = day_progress(last["k"], self.job.start_date, self.tz)
        return Page([loads_exact(r["row"]) for r in rows], Cursor(last["k"], last["id"]).to_json(),
                    processing, completed)


@dataclass(frozen=True)
class RetryRows:
    """A retry's rows: the current source state of the leads whose error rows it re-sends."""

    table: str
    job: Job

    async def total(self, conn: asyncpg.Connection) -> int:
        with translate_errors("count the leads to retry"):
            return int(await conn.fetchval(
                f"SELECT count(*) FROM {self.table} t WHERE t.id IN (SELECT lead_id FROM "
                f"public.gestao_scouter_export_errors WHERE retry_job_id = $1::uuid)", self.job.id))

    async def page(self, conn: asyncpg.Connection, cursor: dict[str, Any] | None, limit: int) -> Page | None:
        after = int((cursor or {}).get("id", -(2**63)))
        with translate_errors("read a retry page"):
            rows = await conn.fetch(
                f"SELECT t.id, row_to_json(t)::text AS row FROM {self.table} t WHERE t.id IN (SELECT lead_id FROM "
                f"public.gestao_scouter_export_errors WHERE retry_job_id = $1::uuid) AND t.id > $2 "
                f"ORDER BY t.id LIMIT $3", self.job.id, after, limit)
        if not rows:
            return None
        return Page([loads_exact(r["row"]) for r in rows], {"id": rows[-1]["id"]})


def job_record(job: Job, event: ChangeEvent, encoder: Encoder) -> KafkaRecord:
    """The record for one of `job`'s events (an export reads rows, never deletes: one record): its
    headers name the job's generation too, so the sink can tell this run's outcomes from those of
    a run a reset replaced."""
    [record] = encoder.records(event, [(HEADER_JOB_GENERATION, str(job.generation).encode("ascii"))])
    return record


def lock_key(job_id: str) -> int:
    """A signed 64-bit advisory lock key for the job: the upper half of its UUID."""
    high = uuid.UUID(job_id).int >> 64
    return high - 2**64 if high >= 2**63 else high


class JobRunner:
    """Runs one export or retry job on a connection that holds the job's lock."""

    def __init__(self, settings: Settings, metrics: Metrics, conn: asyncpg.Connection, producer: Producer,
                 stopping: asyncio.Event) -> None:
        self.settings, self.metrics, self.conn, self.producer, self.stopping = (
            settings, metrics, conn, producer, stopping)

    def rows_for(self, job: Job) -> RowSource:
        if job.kind == "retry":
            return RetryRows(table_name(self.settings), job)
        return DateRangeRows(table_name(self.settings), job, self.settings.history.timezone)

    async def run(self, job: Job, *, settle: bool = True) -> Outcome:
        claimed = await store.claim(self.conn, job)
        if claimed is None:
            return "finished"
        job = claimed
        log.info("job running", job_id=job.id, kind=job.kind, cursor=job.cursor)
        if job.produced_at is None:
            source = self.rows_for(job)
            if job.cursor is None and job.produced_leads == 0:
                if not await store.set_total(self.conn, job, await source.total(self.conn)):
                    return "finished"
            outcome = await self.produce(job, source)
            if outcome != "finished":
                return outcome
            if not await store.mark_produced(self.conn, job):
                return "finished"
            log.info("job produced every row, waiting for the sink", job_id=job.id)
        return await self.settle(job) if settle else "produced"

    async def produce(self, job: Job, source: RowSource) -> Outcome:
        """Produce pages from the saved cursor on; "finished" once no row is left."""
        topic, size, cursor = self.settings.kafka.leads_topic, self.settings.history.page_size, job.cursor
        s = self.settings.source
        db, table = s.database, s.table
        encoder = Encoder(self.settings.kafka.encoder_options(
            self.settings.kafka.topic_prefix, await table_columns(self.conn, s.schema_name, table), topic=topic))
        while not self.stopping.is_set():
            page = await source.page(self.conn, cursor, size)
            if page is None:
                return "finished"
            ts = now_ms()
            await self.producer.send_batch(topic, [job_record(job, from_row(
                "r", None, row, connector="export", db=db, table=table, ts_ms=ts, job_id=job.id, snapshot=True,
                schema_name=s.schema_name), encoder)
                for row in page.rows])
            self.metrics.history_rows_produced(job.kind, len(page.rows))
            status = await store.save_page(self.conn, job, page.cursor, len(page.rows), page.processing_date,
                                           page.last_completed)
            if status is None:
                return "reset"
            if status != "running":
                return "paused"
            cursor = page.cursor
        return "stopped"

    async def settle(self, job: Job) -> Outcome:
        """Wait until the sink reported on every produced lead, then complete the job."""
        poll = min(1.0, self.settings.history.poll_seconds)
        while True:
            now = await store.current(self.conn, job)
            if now is None:
                return "reset"
            if now.status != "running":
                return "paused" if now.status == "paused" else "cancelled"
            if job.kind == "retry":
                await failures.clear_landed(self.conn, job.id)
            if is_settled(now.total_leads, now.exported_leads, now.error_leads):
                await store.finish(self.conn, job, "complete")
                log.info("job completed", job_id=job.id, landed=now.exported_leads, failed=now.error_leads)
                return "completed"
            if await wait_until_set(self.stopping, poll):
                return "stopped"


async def settle_jobs(conn: asyncpg.Connection) -> list[str]:
    """For every produced, running job: clear the error rows retries landed, then complete those
    the sink has fully reported on. One query per round however many jobs wait (no runner each)."""
    with translate_errors("list produced retries"):
        retries = await conn.fetch("SELECT id::text AS id FROM public.gestao_scouter_export_jobs WHERE "
                                   "status = 'running' AND kind = 'retry' AND produced_at IS NOT NULL")
    for row in retries:
        await failures.clear_landed(conn, row["id"])
    return await store.complete_settled(conn)
