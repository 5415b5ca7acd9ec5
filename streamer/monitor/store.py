"""What the monitor page reads and changes in TabuladorMax's job and error tables.

Jobs, errors and the operator actions go through the history engine (`streamer.state.store`,
`streamer.state.failures`), so the page, the CLI and the exporter share one state machine and
one audit log; this module only shapes what the page may see: progress and success rates added,
and of an error row only its status and masked message (never the lead snapshot, the fields sent
or the destination's response body).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import asyncpg

from connectors.redaction import mask_message
from streamer.state import failures
from streamer.state import store as jobs
from streamer.state.errors import JobNotFound
from streamer.state.jobs import OPERATOR_ACTIONS, Action, allowed_from
from streamer.state.store import Job

ACTIONS: tuple[Action, ...] = OPERATOR_ACTIONS
ERROR_FIELDS = ("id", "job_id", "lead_id", "response_status", "created_at", "retry_job_id")
SUMMARY = """
SELECT count(*) AS jobs,
       count(*) FILTER (WHERE status IN ('pending', 'running')) AS active,
       coalesce(sum(exported_leads), 0) AS exported, coalesce(sum(error_leads), 0) AS errors,
       (SELECT count(*) FROM public.gestao_scouter_export_errors
         WHERE created_at > now() - interval '24 hours') AS errors_24h
  FROM public.gestao_scouter_export_jobs"""


def job_view(job: Job) -> dict[str, Any]:
    """A job for the page: its columns (minus the cursor and options; the error message masked),
    progress (0..1, leads the sink reported on / total) and success rate (landed / reported on)."""
    view = job.as_dict()
    for internal in ("cursor", "options"):
        view.pop(internal, None)
    # A failed job's message can quote a lead (a constraint's `Key (email)=(...)`): masked like error rows.
    view["error_message"] = mask_message(job.error_message) or None
    done = job.exported_leads + job.error_leads
    view["progress"] = min(1.0, done / job.total_leads) if job.total_leads > 0 else None
    view["success_rate"] = job.exported_leads / done if done else None
    view["actions"] = [a for a in ACTIONS if job.status in allowed_from(a)]
    return view


def error_view(error: failures.ErrorRow) -> dict[str, Any]:
    """An error row for the page: ids, HTTP status, time, and the message with lead data masked."""
    view = {name: getattr(error, name) for name in ERROR_FIELDS}
    view["error_message"] = mask_message(error.error_message)
    return view


def parse_job_id(value: str) -> str:
    """A full job id, canonical; JobNotFound for anything else (no prefix matching from the web)."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise JobNotFound(f"no job {value!r}") from None


class JobStore:
    """The monitor's reads and actions over an asyncpg pool on the source database."""

    def __init__(self, pool: asyncpg.Pool, actor: str = "monitor") -> None:
        self.pool, self.actor = pool, actor

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.pool.acquire() as proxy:
            # The history store is typed on Connection; a pool's proxy forwards every call to one.
            yield cast(asyncpg.Connection, proxy)

    async def jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        async with self._conn() as conn:
            return [job_view(job) for job in await jobs.list_jobs(conn, limit=limit)]

    async def summary(self) -> dict[str, Any]:
        row = await self.pool.fetchrow(SUMMARY)
        summary: dict[str, Any] = dict(row) if row else {"exported": 0, "errors": 0}
        done = summary["exported"] + summary["errors"]
        summary["success_rate"] = summary["exported"] / done if done else None
        return summary

    async def errors(self, limit: int = 50, job_id: str | None = None) -> list[dict[str, Any]]:
        async with self._conn() as conn:
            return [error_view(e) for e in await failures.list_errors(conn, job_id=job_id, limit=limit)]

    async def act(self, job_id: str, action: Action) -> dict[str, Any]:
        """Apply an operator action through the history engine (audited as `self.actor`)."""
        async with self._conn() as conn:
            job = await jobs.act(conn, parse_job_id(job_id), action, actor=self.actor,
                                 parameters={"via": "monitor"})
        return job_view(job)
