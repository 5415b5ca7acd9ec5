"""Where leads that cannot land go: the seed's error table and a dead-letter topic.

Lead data reaches the error table (`lead_snapshot`, as the seed kept it) and the dead-letter
record's value (the original event), never a log line or a metric label.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from connectors.kafka.client import Producer
from connectors.postgres.errors import TransientError, translate_errors
from connectors.postgrest.errors import PostgrestError
from streamer.history.progress import record_outcomes
from streamer.metrics import Metrics

INSERT_ERRORS = """
INSERT INTO public.gestao_scouter_export_errors
  (job_id, lead_id, error_message, response_status, response_body, lead_snapshot, fields_sent)
SELECT job_id, lead_id, error_message, response_status, response_body, lead_snapshot, fields_sent
  FROM jsonb_to_recordset($1::jsonb) AS t (job_id uuid, lead_id bigint, error_message text,
       response_status integer, response_body text, lead_snapshot jsonb, fields_sent jsonb)
"""


@dataclass(frozen=True)
class FailedLead:
    """One lead that could not land, with what the destination said and what we sent."""

    lead_id: int
    job_id: str | None
    error: PostgrestError | None  # None for an undecodable record
    reason: str
    row: dict[str, object] | None  # the row sent (mapped), if any
    originals: tuple[tuple[int, bytes | None, bytes | None], ...]  # (offset, key, value) records

    def table_row(self) -> dict[str, object]:
        status = self.error.status if self.error is not None else None
        return {
            "job_id": self.job_id, "lead_id": self.lead_id, "error_message": self.reason[:2000],
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
        for job_id, ids in _by_job(failed).items():
            await self._write("count failed leads", _outcomes(job_id, failed=ids))
        for lead in failed:
            self.metrics.sink_failed(str(lead.error.status if lead.error and lead.error.status else "none"))

    async def landed(self, by_job: dict[str, list[int]]) -> None:
        """Count leads of export jobs that landed (idempotent per job and lead)."""
        if not by_job:
            return
        for job_id, ids in by_job.items():
            await self._write("count landed leads", _outcomes(job_id, landed=ids))

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


def _outcomes(job_id: str, *, landed: Sequence[int] = (),
              failed: Sequence[int] = ()) -> Callable[[Any], Awaitable[object]]:
    async def write(conn: Any) -> None:
        await record_outcomes(conn, job_id, landed=landed, failed=failed)
    return write


def _by_job(failed: Sequence[FailedLead]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for lead in failed:
        if lead.job_id:
            out.setdefault(lead.job_id, []).append(lead.lead_id)
    return out
