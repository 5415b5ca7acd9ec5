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
from devstack.stack import Endpoints
from schemas.sql_files import migration_files
from streamer.metrics import Metrics
from streamer.sink.failures import FailedLead, FailureRecorder, JobRun, job_uuid
from streamer.state import store

JOB = "6f1c2b8e-8d3a-4a53-9a7e-3c1f0b1e2d4a"


def _failed(lead_id: int, job_id: str | None, generation: int | None = None) -> FailedLead:
    error = PostgrestRejected("HTTP 400 23514: violates check", status=400, code="23514", body="{}")
    return FailedLead(lead_id, job_id, error, "400 23514: violates check", {"id": lead_id}, ((7, b"k", b"v"),),
                      generation)


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
        await recorder.landed({JobRun(vanished): [leads[0]], JobRun("not-a-uuid"): [leads[1]]})
        rows = await source_pool.fetch("SELECT lead_id, job_id FROM gestao_scouter_export_errors "
                                       "WHERE lead_id = ANY($1::bigint[]) ORDER BY lead_id", sorted(leads))
    finally:
        await source_pool.execute("DELETE FROM gestao_scouter_export_errors WHERE lead_id = ANY($1::bigint[])",
                                  leads)
    assert [(r["lead_id"], r["job_id"]) for r in rows] == [(lead, None) for lead in sorted(leads)]
    assert [(topic, len(records)) for topic, records in producer.sent] == [("leads.dlq", 2)]


@pytest.mark.integration
async def test_leads_of_a_reset_jobs_previous_run_are_neither_filed_nor_counted(source_pool: asyncpg.Pool) -> None:
    """After a reset (generation N+1), leads of generation N that fail or land are dead-lettered
    as usual but leave no error row and no count: the new run starts at zero. Leads of N+1 are
    filed and counted, and so are leads naming no generation (produced before this was carried)."""
    leads = [random.randrange(10**12, 10**13) for _ in range(5)]
    producer = FakeProducer()
    recorder = FailureRecorder(source_pool, producer, "leads.dlq", Metrics())  # type: ignore[arg-type]
    async with source_pool.acquire() as conn:
        job = await store.create_job(conn, kind="export", actor="pytest")
        assert job is not None
        try:
            old = job.generation
            await recorder.record([_failed(leads[0], job.id, old)], partition=0)
            await recorder.landed({JobRun(job.id, old): [leads[1]]})
            assert (await store.get_job(conn, job.id)).error_leads == 1
            new = (await store.act(conn, job.id, "reset", actor="pytest")).generation
            assert new == old + 1
            await recorder.record([_failed(leads[0], job.id, old), _failed(leads[2], job.id, old)], partition=0)
            await recorder.landed({JobRun(job.id, old): [leads[1], leads[3]]})
            late = await store.get_job(conn, job.id)
            errors = await conn.fetchval("SELECT count(*) FROM gestao_scouter_export_errors WHERE job_id = $1::uuid",
                                         job.id)
            assert (late.exported_leads, late.error_leads, errors) == (0, 0, 0)
            await recorder.record([_failed(leads[2], job.id, new), _failed(leads[4], job.id)], partition=0)
            await recorder.landed({JobRun(job.id, new): [leads[1]], JobRun(job.id): [leads[3]]})
            now = await store.get_job(conn, job.id)
            filed = await conn.fetch("SELECT lead_id FROM gestao_scouter_export_errors WHERE job_id = $1::uuid "
                                     "ORDER BY lead_id", job.id)
        finally:
            await conn.execute("DELETE FROM streamer_audit_log WHERE job_id = $1::uuid", job.id)
            await conn.execute("DELETE FROM gestao_scouter_export_jobs WHERE id = $1::uuid", job.id)
    assert (now.exported_leads, now.error_leads) == (2, 2)
    assert [r["lead_id"] for r in filed] == sorted([leads[2], leads[4]])
    assert sum(len(records) for _, records in producer.sent) == 5  # every failure dead-lettered, stale or not
