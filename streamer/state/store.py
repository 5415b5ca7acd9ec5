"""Jobs in `gestao_scouter_export_jobs`, over asyncpg: create, read, list, move between states.

Every write that a concurrent actor could invalidate is optimistic: it names the status and the
generation it read (`WHERE status = $old AND generation = $gen`) and raises ConcurrentChange
when the row moved meanwhile. A reset bumps the generation, so a runner still working on the
previous generation finds its next write refused and stops (see `save_page`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from connectors.postgres.errors import translate_errors
from streamer.state import audit
from streamer.state.errors import ConcurrentChange, JobNotFound
from streamer.state.jobs import RESET_COLUMNS, Action, next_status

TABLE = "public.gestao_scouter_export_jobs"
COLUMNS = ("id::text AS id, status, kind, start_date, end_date, date_field, total_leads, exported_leads, "
           "error_leads, produced_leads, processing_date, last_completed_date, cursor::text AS cursor, "
           "options::text AS options, error_message, created_by, created_at, updated_at, started_at, paused_at, "
           "finished_at, produced_at, generation, schedule, scheduled_for")


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    status: str
    kind: str
    start_date: date | None
    end_date: date | None
    date_field: str
    total_leads: int
    exported_leads: int
    error_leads: int
    produced_leads: int
    processing_date: date | None
    last_completed_date: date | None
    cursor: dict[str, Any] | None
    options: dict[str, Any] | None
    error_message: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    paused_at: datetime | None
    finished_at: datetime | None
    produced_at: datetime | None
    generation: int
    schedule: str | None
    scheduled_for: datetime | None

    @classmethod
    def from_record(cls, row: asyncpg.Record) -> Job:
        values = dict(row)
        for key in ("cursor", "options"):
            values[key] = orjson.loads(values[key]) if values[key] is not None else None
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, default=str).decode()


async def create_job(conn: asyncpg.Connection, *, kind: str, actor: str, start_date: date | None = None,
                     end_date: date | None = None, date_field: str = "criado", options: dict[str, Any] | None = None,
                     schedule: str | None = None, scheduled_for: datetime | None = None,
                     total: int = 0) -> Job | None:
    """Insert a pending job and its audit entry; None if a job already exists for `scheduled_for`."""
    async with conn.transaction():
        with translate_errors("create a job"):
            row = await conn.fetchrow(
                f"INSERT INTO {TABLE} (kind, start_date, end_date, date_field, options, created_by, schedule, "
                f"scheduled_for, total_leads) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9) "
                f"ON CONFLICT (scheduled_for) WHERE scheduled_for IS NOT NULL DO NOTHING RETURNING {COLUMNS}",
                kind, start_date, end_date, date_field, _json(options), actor, schedule, scheduled_for, total)
        if row is None:
            return None
        job = Job.from_record(row)
        await audit.record(conn, actor=actor, action=f"{kind}.start", job_id=job.id, parameters={
            "start_date": start_date, "end_date": end_date, "date_field": date_field, "schedule": schedule,
            "scheduled_for": scheduled_for, **({"options": options} if options else {})})
    return job


async def get_job(conn: asyncpg.Connection, job_id: str) -> Job:
    """The job whose id is `job_id` or starts with it (8+ characters are usually enough).

    The prefix is compared as text (`starts_with`), never as a LIKE pattern: `%` and `_` match
    only themselves. ValueError for a prefix shorter than 4 characters or not made of hex digits
    and dashes (the CLI checks first, `history.cli.job_ref`); JobNotFound if none or several match."""
    prefix = job_id.lower()
    if len(prefix) < 4 or any(c not in "0123456789abcdef-" for c in prefix):
        raise ValueError(f"job id: expected a job id or its first 4+ characters (hex digits and dashes), "
                         f"got {job_id!r}")
    with translate_errors("read a job"):
        rows = await conn.fetch(f"SELECT {COLUMNS} FROM {TABLE} WHERE starts_with(id::text, $1) LIMIT 2", prefix)
    if not rows:
        raise JobNotFound(f"no job {job_id!r}")
    if len(rows) > 1:
        raise JobNotFound(f"{job_id!r} matches several jobs: give more of the id")
    return Job.from_record(rows[0])


async def list_jobs(conn: asyncpg.Connection, *, limit: int = 50, statuses: tuple[str, ...] = (),
                    kinds: tuple[str, ...] = ()) -> list[Job]:
    """The newest jobs first, optionally only those in `statuses` and of `kinds`."""
    with translate_errors("list jobs"):
        rows = await conn.fetch(
            f"SELECT {COLUMNS} FROM {TABLE} WHERE (cardinality($1::text[]) = 0 OR status = ANY($1)) "
            f"AND (cardinality($2::text[]) = 0 OR kind = ANY($2)) ORDER BY created_at DESC LIMIT $3",
            list(statuses), list(kinds), limit)
    return [Job.from_record(r) for r in rows]


async def runnable_jobs(conn: asyncpg.Connection) -> list[Job]:
    """Pending and running jobs, oldest first: what an exporter takes up (a running job whose
    runner died is continued from its cursor)."""
    with translate_errors("list runnable jobs"):
        rows = await conn.fetch(f"SELECT {COLUMNS} FROM {TABLE} WHERE status IN ('pending', 'running') "
                                f"ORDER BY created_at")
    return [Job.from_record(r) for r in rows]


async def db_now(conn: asyncpg.Connection) -> datetime:
    with translate_errors("read the clock"):
        value: datetime = await conn.fetchval("SELECT now()")
    return value


async def status_counts(conn: asyncpg.Connection, stuck_after: timedelta) -> tuple[dict[str, int], int]:
    """(jobs by status, stuck jobs) for the metrics."""
    with translate_errors("count jobs"):
        rows = await conn.fetch(f"SELECT status, count(*) AS n FROM {TABLE} GROUP BY status")
        stuck = await conn.fetchval(
            f"SELECT count(*) FROM {TABLE} WHERE status = 'running' AND updated_at <= now() - $1::interval",
            stuck_after)
    return {r["status"]: r["n"] for r in rows}, int(stuck)


# --- operator actions --------------------------------------------------------------------------

_SIDE_EFFECTS: dict[str, str] = {
    "pause": "paused_at = now()",
    "resume": "paused_at = NULL, finished_at = NULL, error_message = NULL",
    "cancel": "finished_at = now()",
    "reset": ", ".join(f"{col} = {'NULL' if v is None else v}" for col, v in RESET_COLUMNS.items())
             + ", generation = generation + 1",
}


async def act(conn: asyncpg.Connection, job_id: str, action: Action, *, actor: str,
              parameters: dict[str, Any] | None = None) -> Job:
    """Apply an operator action (pause, resume, reset, cancel) and audit it, in one transaction.

    Raises InvalidTransition when the job's status forbids it, ConcurrentChange when the job
    moved between the read and the write."""
    job = await get_job(conn, job_id)
    target = next_status(job.status, action)
    async with conn.transaction():
        with translate_errors(f"{action} job {job.id}"):
            row = await conn.fetchrow(
                f"UPDATE {TABLE} SET status = $4, updated_at = now(), {_SIDE_EFFECTS[action]} "
                f"WHERE id = $1::uuid AND status = $2 AND generation = $3 RETURNING {COLUMNS}",
                job.id, job.status, job.generation, target)
            if row is None:
                raise ConcurrentChange(str(job.id), action)
            if action == "reset":
                await conn.execute("DELETE FROM public.gestao_scouter_export_errors WHERE job_id = $1::uuid", job.id)
                await conn.execute("DELETE FROM public.gestao_scouter_export_job_leads WHERE job_id = $1::uuid",
                                   job.id)
        await audit.record(conn, actor=actor, action=f"job.{action}", job_id=job.id,
                           parameters={"from": job.status, "to": target, **(parameters or {})})
    return Job.from_record(row)


# --- the runner's writes -----------------------------------------------------------------------

async def claim(conn: asyncpg.Connection, job: Job) -> Job | None:
    """Mark the job running (started now unless it had started); None if it moved meanwhile."""
    with translate_errors(f"claim job {job.id}"):
        row = await conn.fetchrow(
            f"UPDATE {TABLE} SET status = 'running', started_at = coalesce(started_at, now()), updated_at = now() "
            f"WHERE id = $1::uuid AND generation = $2 AND status IN ('pending', 'running') RETURNING {COLUMNS}",
            job.id, job.generation)
    return None if row is None else Job.from_record(row)


async def set_total(conn: asyncpg.Connection, job: Job, total: int, options: dict[str, Any] | None = None) -> bool:
    """Record the job's total (and options) when it starts; False if it moved meanwhile."""
    with translate_errors(f"set the total of job {job.id}"):
        done = await conn.fetchval(
            f"UPDATE {TABLE} SET total_leads = $3, options = coalesce($4::jsonb, options), updated_at = now() "
            f"WHERE id = $1::uuid AND generation = $2 AND status = 'running' RETURNING true",
            job.id, job.generation, total, _json(options))
    return bool(done)


async def save_page(conn: asyncpg.Connection, job: Job, cursor: dict[str, Any], produced: int,
                    processing_date: date | None, last_completed_date: date | None) -> str | None:
    """Persist the cursor after a page Kafka acknowledged; return the job's status now, or None
    when it was reset or cancelled meanwhile (the runner then stops). A pause that arrived during
    the page still records it, so resuming does not produce it again."""
    with translate_errors(f"save the cursor of job {job.id}"):
        status: str | None = await conn.fetchval(
            f"UPDATE {TABLE} SET cursor = $3::jsonb, produced_leads = produced_leads + $4, "
            f"processing_date = coalesce($5, processing_date), "
            f"last_completed_date = coalesce($6, last_completed_date), updated_at = now() "
            f"WHERE id = $1::uuid AND generation = $2 AND status IN ('running', 'paused') RETURNING status",
            job.id, job.generation, _json(cursor), produced, processing_date, last_completed_date)
    return status


async def mark_produced(conn: asyncpg.Connection, job: Job, *, total_is_produced: bool = True) -> bool:
    """Every row is produced: the total becomes what was produced (rows deleted since the count
    are not waited for) and the last completed date the range's end; False if the job moved."""
    total = "produced_leads" if total_is_produced else "total_leads"
    with translate_errors(f"mark job {job.id} produced"):
        done = await conn.fetchval(
            f"UPDATE {TABLE} SET produced_at = now(), total_leads = {total}, "
            f"last_completed_date = coalesce(end_date, last_completed_date), updated_at = now() "
            f"WHERE id = $1::uuid AND generation = $2 AND status = 'running' RETURNING true",
            job.id, job.generation)
    return bool(done)


async def set_progress(conn: asyncpg.Connection, job: Job, done: int) -> None:
    """A replay's progress: events consumed past their start offsets (it has no per-lead report)."""
    with translate_errors(f"update the progress of job {job.id}"):
        await conn.execute(
            f"UPDATE {TABLE} SET exported_leads = $3, updated_at = now() WHERE id = $1::uuid AND generation = $2 "
            f"AND exported_leads IS DISTINCT FROM $3", job.id, job.generation, done)


async def finish(conn: asyncpg.Connection, job: Job, action: Action, error: str | None = None) -> bool:
    """The runner completes or fails the job; False if it was paused, cancelled or reset meanwhile."""
    target = next_status("running", action)
    with translate_errors(f"{action} job {job.id}"):
        done = await conn.fetchval(
            f"UPDATE {TABLE} SET status = $3, finished_at = now(), error_message = $4, updated_at = now() "
            f"WHERE id = $1::uuid AND generation = $2 AND status IN ('pending', 'running') RETURNING true",
            job.id, job.generation, target, error)
    return bool(done)


async def current(conn: asyncpg.Connection, job: Job) -> Job | None:
    """The job as stored now, or None if it was reset (another generation) or deleted."""
    with translate_errors(f"read job {job.id}"):
        row = await conn.fetchrow(f"SELECT {COLUMNS} FROM {TABLE} WHERE id = $1::uuid AND generation = $2",
                                  job.id, job.generation)
    return None if row is None else Job.from_record(row)


async def complete_settled(conn: asyncpg.Connection) -> list[str]:
    """Complete every running job whose rows are all produced and reported on by the sink
    (landed + failed >= total); return their ids. Replays complete when their sink run drains."""
    with translate_errors("complete settled jobs"):
        rows = await conn.fetch(
            f"UPDATE {TABLE} SET status = 'completed', finished_at = now(), updated_at = now() "
            f"WHERE status = 'running' AND kind <> 'replay' AND produced_at IS NOT NULL "
            f"AND exported_leads + error_leads >= total_leads RETURNING id::text AS id")
    return [r["id"] for r in rows]
