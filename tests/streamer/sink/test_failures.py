"""Filing failed leads: the error row's job id, and recording on real PostgreSQL with jobs that
cannot be used (not a UUID, or deleted meanwhile)."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import pytest

from connectors.postgres.migrations import apply_to
from connectors.postgrest.errors import PostgrestRejected
from schemas.sql_files import migration_files
from streamer.devstack.stack import Endpoints
from streamer.metrics import Metrics
from streamer.sink.failures import FailedLead, FailureRecorder, job_uuid

JOB = "6f1c2b8e-8d3a-4a53-9a7e-3c1f0b1e2d4a"


def _failed(lead_id: int, job_id: str | None) -> FailedLead:
    error = PostgrestRejected("HTTP 400 23514: violates check", status=400, code="23514", body="{}")
    return FailedLead(lead_id, job_id, error, "400 23514: violates check", {"id": lead_id}, ((7, b"k", b"v"),))


@pytest.mark.parametrize(("job_id", "stored"), [
    (JOB, JOB), (JOB.upper(), JOB), (None, None), ("", None), ("not-a-uuid", None), ("42", None),
])
def test_the_error_row_carries_the_job_only_as_a_uuid(job_id: str | None, stored: str | None):
    """A job id PostgreSQL could not cast to uuid would fail the whole INSERT, for every lead of
    the batch, again on each redelivery: it is left out, and a real one is spelled canonically."""
    assert _failed(1, job_id).table_row()["job_id"] == stored
    assert job_uuid(job_id) == stored


class FakeProducer:
    """Stands in for the dead-letter producer: keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Sequence[Any]]] = []

    async def send_batch(self, topic: str, records: Sequence[Any]) -> list[Any]:
        self.sent.append((topic, records))
        return []


@pytest.fixture
async def source_pool(services: Endpoints) -> AsyncIterator[asyncpg.Pool]:
    await apply_to(services.source_dsn, migration_files("source"))
    pool = await asyncpg.create_pool(services.source_dsn, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.mark.integration
async def test_leads_of_unusable_jobs_are_filed_without_their_job(source_pool: asyncpg.Pool) -> None:
    """A lead whose job id is not a UUID, or names a job that no longer exists, is still filed
    (error table and dead-letter topic) without the job, instead of failing the write; and
    landed leads of a vanished job are not counted, without an error."""
    leads = [random.randrange(10**12, 10**13) for _ in range(2)]
    producer = FakeProducer()
    recorder = FailureRecorder(source_pool, producer, "leads.dlq", Metrics())  # type: ignore[arg-type]
    vanished = str(uuid.uuid4())
    try:
        await recorder.record([_failed(leads[0], "not-a-uuid"), _failed(leads[1], vanished)], partition=0)
        await recorder.landed({vanished: [leads[0]], "not-a-uuid": [leads[1]]})
        rows = await source_pool.fetch("SELECT lead_id, job_id FROM gestao_scouter_export_errors "
                                       "WHERE lead_id = ANY($1::bigint[]) ORDER BY lead_id", sorted(leads))
    finally:
        await source_pool.execute("DELETE FROM gestao_scouter_export_errors WHERE lead_id = ANY($1::bigint[])",
                                  leads)
    assert [(r["lead_id"], r["job_id"]) for r in rows] == [(lead, None) for lead in sorted(leads)]
    assert [(topic, len(records)) for topic, records in producer.sent] == [("leads.dlq", 2)]
