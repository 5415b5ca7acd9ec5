"""Where leads that cannot land go: the seed's error table and a dead-letter topic.

Lead data reaches the error table (`lead_snapshot`, as the seed kept it) and the dead-letter
record's value (the original event), never a log line or a metric label.

A lead's export job id is a courtesy: an id that is not a UUID, or names a job deleted since,
is left out (the lead is still filed) rather than failing the write, which would otherwise fail
again on every redelivery of the batch and stall its partition for good. A lead of a job run
that a reset has replaced (`JobRun.generation`) is dead-lettered but neither filed nor counted.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from connectors.kafka.client import Producer
from connectors.postgres.errors import PostgresError, TransientError, translate_errors
from connectors.postgrest.errors import PostgrestError
from streamer.logging import get_logger
from streamer.metrics import Metrics
from streamer.state.progress import record_outcomes

log = get_logger(__name__)

# A lead of a previous generation of its job (reset since it was produced) is not filed: the reset
# deleted that run's error rows, and the new run sends the lead again. Locking the jobs named
# (FOR SHARE) orders the insert with a reset: one waits for the other, which then sees its rows.
INSERT_ERRORS = """
WITH t AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS t (job_id uuid, job_generation integer, lead_id bigint,
         error_message text, response_status integer, response_body text, lead_snapshot jsonb, fields_sent jsonb)
), j AS (
  SELECT id, generation FROM public.gestao_scouter_export_jobs WHERE id IN (SELECT job_id FROM t)
   ORDER BY id FOR SHARE
)
INSERT INTO public.gestao_scouter_export_errors
  (job_id, lead_id, error_message, response_status, response_body, lead_snapshot, fields_sent)
SELECT j.id, t.lead_id, t.error_message, t.response_status, t.response_body, t.lead_snapshot, t.fields_sent
  FROM t LEFT JOIN j ON j.id = t.job_id
 WHERE t.job_generation IS NULL OR j.id IS NULL OR j.generation = t.job_generation
"""
# A job deleted since its leads were produced: its per-lead rows (040_job_progress.sql) cannot be
# written, and there are no counters left to keep.
FOREIGN_KEY_VIOLATION = "23503"


@dataclass(frozen=True, slots=True)
class JobRun:
    """The export job, and its generation, that produced an event: the generation is None for
    events produced before generations were carried, which count toward the job's current run."""

    job_id: str
    generation: int | None = None


@dataclass(frozen=True)
class FailedLead:
    """One lead that could not land, with what the destination said and what we sent."""

    lead_id: int
    job_id: str | None
    error: PostgrestError | None  # None for an undecodable record
    reason: str
    row: dict[str, object] | None  # the row sent (mapped), if any
    originals: tuple[tuple[int, bytes | None, bytes | None], ...]  # (offset, key, value) records
    job_generation: int | None = None

    def table_row(self) -> dict[str, object]:
        status = self.error.status if self.error is not None else None
        return {
            "job_id": job_uuid(self.job_id), "job_generation": self.job_generation, "lead_id": self.lead_id,
            "error_message": self.reason[:2000],
            "response_status": status, "response_body": self.error.body if self.error is not None else None,
            "lead_snapshot": self.row, "fields_sent": sorted(self.row) if self.row else None,
        }


class FailureRecorder:
    def __init__(self, pool: asyncpg.Pool, producer: Producer, dlq_topic: str, metrics: Metrics) -> None:
        self.pool, self.producer, self.dlq_topic, self.metrics = pool, producer, dlq_topic, metrics

    async def record(self, failed: Sequence[FailedLead], *, partition: int) -> None:
        """Dead-letter each original record (error in headers), then write the error rows."""
        if not failed:
            return
        records = []
        for lead in failed:
            status = str(lead.error.status if lead.error and lead.error.status else "")
            code = (lead.error.code if lead.error else None) or ""
            for offset, key, value in lead.originals:
                headers = [("error_status", status.encode()), ("error_code", code.encode()),
                           ("error_message", lead.reason[:500].encode()),
                           ("original_partition", str(partition).encode()),
                           ("original_offset", str(offset).encode())]
                records.append((key, value, headers))
        await self.producer.send_batch(self.dlq_topic, records)
        self.metrics.sink_dead_lettered(len(records))
        rows = orjson.dumps([f.table_row() for f in failed], default=str).decode()
        await self._write("record failed leads", lambda conn: conn.execute(INSERT_ERRORS, rows))
        for run, ids in _by_job(failed).items():
            await self._count(run, failed=ids)
        for lead in failed:
            self.metrics.sink_failed(str(lead.error.status if lead.error and lead.error.status else "none"))

    async def landed(self, by_job: Mapping[JobRun, Sequence[int]]) -> None:
        """Count leads of export jobs that landed (idempotent per job and lead)."""
        for run, ids in by_job.items():
            if (canonical := job_uuid(run.job_id)) is not None:
                await self._count(JobRun(canonical, run.generation), landed=ids)

    async def _count(self, run: JobRun, *, landed: Sequence[int] = (), failed: Sequence[int] = ()) -> None:
        """Count a job's leads; a job deleted meanwhile has no counters left to keep, and a run a
        reset replaced counts toward nothing."""
        try:
            await self._write("count landed leads" if landed else "count failed leads",
                              _outcomes(run, landed=landed, failed=failed))
        except PostgresError as exc:
            if exc.sqlstate != FOREIGN_KEY_VIOLATION:
                raise
            log.warning("export job no longer exists: its leads are not counted", job_id=run.job_id)

    async def _write(self, action: str, write: Callable[[Any], Awaitable[object]], attempts: int = 5) -> None:
        """Run `write` on a pooled connection; retry a deadlock or serialization failure (an
        export runner updates the same job rows), which PostgreSQL resolves by aborting one side."""
        for attempt in range(1, attempts + 1):
            try:
                with translate_errors(action):
                    async with self.pool.acquire() as conn:
                        await write(conn)
                return
            except TransientError:
                if attempt == attempts:
                    raise
                await asyncio.sleep(0.05 * attempt)


def _outcomes(run: JobRun, *, landed: Sequence[int] = (),
              failed: Sequence[int] = ()) -> Callable[[Any], Awaitable[object]]:
    async def write(conn: Any) -> None:
        if not await record_outcomes(conn, run.job_id, landed=landed, failed=failed, generation=run.generation):
            log.info("outcomes of a reset job's previous run ignored", job_id=run.job_id,
                     generation=run.generation, leads=len(landed) + len(failed))
    return write


def _by_job(failed: Sequence[FailedLead]) -> dict[JobRun, list[int]]:
    out: dict[JobRun, list[int]] = {}
    for lead in failed:
        job_id = job_uuid(lead.job_id)
        if job_id is not None:
            out.setdefault(JobRun(job_id, lead.job_generation), []).append(lead.lead_id)
    return out


def job_uuid(value: str | None) -> str | None:
    """`value` as a canonical UUID, or None if it is not one: the job tables key jobs by uuid, and
    a value PostgreSQL cannot cast fails the whole statement, for every lead it writes."""
    if not value:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None
