"""Failed leads in `gestao_scouter_export_errors`: list, show, retry, purge.

A retry is a job (kind `retry`): its error rows are marked with the job's id, the runner
produces the leads' *current* source state as `op=r` events carrying that id, and the sink lands
them like any event and reports them through `record_outcomes`. Going through the topic rather
than upserting here keeps one write path to the destination: the same mapping, `updated_at`
guard, batching, bisection and error recording, and no race with the sink writing a newer
version of the same lead. Once the sink reports a lead landed, `clear_landed` deletes the error
rows the retry re-sent for it and moves the lead from failed to landed in its original job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson

from connectors.postgres.errors import translate_errors
from streamer.state import audit, store
from streamer.state.progress import record_outcomes
from streamer.state.store import Job

ERRORS = "public.gestao_scouter_export_errors"
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True, slots=True)
class ErrorRow:
    id: int
    job_id: str | None
    lead_id: int
    error_message: str
    response_status: int | None
    response_body: str | None
    lead_snapshot: Any
    fields_sent: Any
    created_at: datetime
    retry_job_id: str | None


_COLUMNS = ("id, job_id::text AS job_id, lead_id, error_message, response_status, response_body, "
            "lead_snapshot::text AS lead_snapshot, fields_sent::text AS fields_sent, created_at, "
            "retry_job_id::text AS retry_job_id")


def _row(record: asyncpg.Record) -> ErrorRow:
    values = dict(record)
    for key in ("lead_snapshot", "fields_sent"):
        values[key] = orjson.loads(values[key]) if values[key] is not None else None
    return ErrorRow(**values)


def parse_duration(text: str) -> timedelta:
    """`90d`, `12h`, `30m`, `2w`, `45s` → a timedelta (the seed's cleanup keeps 90 days).

    >>> parse_duration("90d").days
    90
    """
    match = _DURATION.match(text.lower())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"expected a duration such as 90d, 12h, 30m or 2w, not {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


async def list_errors(conn: asyncpg.Connection, *, job_id: str | None = None, lead_id: int | None = None,
                      limit: int = 50, status: int | None = None, since: datetime | None = None,
                      until: datetime | None = None) -> list[ErrorRow]:
    """The newest error rows first, optionally of one job or one lead, with one HTTP status
    (0: none recorded), recorded at or after `since` and before `until`."""
    with translate_errors("list errors"):
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM {ERRORS} WHERE ($1::uuid IS NULL OR job_id = $1::uuid) "
            f"AND ($2::bigint IS NULL OR lead_id = $2) "
            f"AND ($4::int IS NULL OR coalesce(response_status, 0) = $4) "
            f"AND ($5::timestamptz IS NULL OR created_at >= $5) AND ($6::timestamptz IS NULL OR created_at < $6) "
            f"ORDER BY created_at DESC, id DESC LIMIT $3",
            job_id, lead_id, limit, status, since, until)
    return [_row(r) for r in rows]


async def get_error(conn: asyncpg.Connection, error_id: int) -> ErrorRow | None:
    with translate_errors("read an error"):
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM {ERRORS} WHERE id = $1", error_id)
    return None if row is None else _row(row)


async def purge(conn: asyncpg.Connection, older_than: timedelta, *, actor: str) -> int:
    """Delete error rows older than `older_than` (the seed's 90-day cleanup); return how many."""
    async with conn.transaction():
        with translate_errors("purge errors"):
            status = await conn.execute(f"DELETE FROM {ERRORS} WHERE created_at < now() - $1::interval", older_than)
        deleted = int(status.split()[-1])
        await audit.record(conn, actor=actor, action="errors.purge",
                           parameters={"older_than": str(older_than), "deleted": deleted})
    return deleted


async def create_retry(conn: asyncpg.Connection, *, actor: str, job_id: str | None = None,
                       error_ids: tuple[int, ...] = (), everything: bool = False) -> tuple[Job, int] | None:
    """A pending retry job for the chosen error rows, and how many rows it re-sends; None when
    no row matches. Choose rows of one job (`job_id`), by id (`error_ids`), or all."""
    if not (job_id or error_ids or everything):
        raise ValueError("choose the errors to retry: a job id, error ids, or all")
    async with conn.transaction():
        job = await store.create_job(conn, kind="retry", actor=actor, options={
            "job_id": job_id, "error_ids": list(error_ids), "all": everything})
        assert job is not None  # only scheduled jobs can conflict
        with translate_errors("mark errors for retry"):
            status = await conn.execute(
                f"UPDATE {ERRORS} SET retry_job_id = $1::uuid WHERE ($2::bool OR job_id = $3::uuid "
                f"OR id = ANY($4::bigint[]))", job.id, everything, job_id, list(error_ids))
        marked = int(status.split()[-1])
        if marked == 0:
            raise _NothingToRetry
    return job, marked


class _NothingToRetry(Exception):
    pass


async def create_retry_or_none(conn: asyncpg.Connection, **kwargs: Any) -> tuple[Job, int] | None:
    """`create_retry`, but None (and nothing written) when no error row matches."""
    try:
        return await create_retry(conn, **kwargs)
    except _NothingToRetry:
        return None


async def clear_landed(conn: asyncpg.Connection, retry_job_id: str) -> int:
    """Delete the error rows `retry_job_id` re-sent for leads the sink has since landed, and count
    those leads as landed in their original jobs; return how many rows were deleted."""
    async with conn.transaction():
        with translate_errors("clear landed errors"):
            gone = await conn.fetch(
                f"DELETE FROM {ERRORS} e USING public.gestao_scouter_export_job_leads l "
                f"WHERE e.retry_job_id = $1::uuid AND l.job_id = $1::uuid AND l.lead_id = e.lead_id "
                f"AND l.outcome = 'landed' RETURNING e.job_id::text AS job_id, e.lead_id", retry_job_id)
            by_job: dict[str, set[int]] = {}
            for row in gone:
                if row["job_id"] is not None and row["job_id"] != retry_job_id:
                    by_job.setdefault(row["job_id"], set()).add(row["lead_id"])
            for original, leads in by_job.items():
                failed = await conn.fetch(
                    "SELECT lead_id FROM public.gestao_scouter_export_job_leads WHERE job_id = $1::uuid "
                    "AND outcome = 'failed' AND lead_id = ANY($2::bigint[])", original, sorted(leads))
                await record_outcomes(conn, original, landed=[r["lead_id"] for r in failed])
    return len(gone)
