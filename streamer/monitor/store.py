"""What the monitor page reads and changes in TabuladorMax's job and error tables.

Jobs, errors and the operator actions go through the history engine (`streamer.state.store`,
`streamer.state.failures`), so the page, the CLI and the exporter share one state machine and
one audit log; this module only shapes what the page may see: progress and success rates added;
in the error list an error row's status and masked message; in its drawer (`error_detail`) the
response body with each text masked like the message, the names of the fields sent, and the lead snapshot with
personal data masked (`masking.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, cast

import asyncpg

from connectors.redaction import mask_message
from streamer.monitor.forms import ExportForm
from streamer.monitor.masking import mask_body, mask_lead
from streamer.state import audit, failures
from streamer.state import store as jobs
from streamer.state.errors import JobNotFound
from streamer.state.jobs import OPERATOR_ACTIONS, Action, allowed_from
from streamer.state.store import Job
from streamer.texts import code_of

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
    # A message the service wrote in fixed words (a repair's "verify: missing at the destination")
    # has a code the page translates; any other (a destination's refusal) is shown as stored.
    view["error_code"] = code_of(error.error_message)
    return view


def error_detail(error: failures.ErrorRow) -> dict[str, Any]:
    """An error row for its drawer: the list's fields, the response body masked, the fields sent
    (column names), and the lead snapshot with personal data masked."""
    view = error_view(error)
    view["response_body"] = mask_body(error.response_body)
    sent = error.fields_sent
    view["fields_sent"] = sent if isinstance(sent, list) and all(isinstance(f, str) for f in sent) \
        else mask_lead(sent)
    view["lead_snapshot"] = mask_lead(error.lead_snapshot)
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

    async def errors(self, limit: int = 50, job_id: str | None = None, *, status: int | None = None,
                     since: datetime | None = None, until: datetime | None = None) -> list[dict[str, Any]]:
        async with self._conn() as conn:
            return [error_view(e) for e in await failures.list_errors(
                conn, job_id=job_id, limit=limit, status=status, since=since, until=until)]

    async def error(self, error_id: int) -> dict[str, Any] | None:
        async with self._conn() as conn:
            row = await failures.get_error(conn, error_id)
        return None if row is None else error_detail(row)

    async def create_export(self, form: ExportForm, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """A pending export job (audited `export.start`); the exporter component takes it up."""
        async with self._conn() as conn:
            job = await jobs.create_job(conn, kind="export", actor=self.actor, start_date=form.start,
                                        end_date=form.end, date_field=form.date_field,
                                        options={"via": "monitor", **(extra or {})})
        assert job is not None  # only scheduled jobs can conflict
        return job_view(job)

    async def retry(self, *, job_id: str | None = None, error_ids: tuple[int, ...] = ()) -> dict[str, Any] | None:
        """A retry job for one job's error rows or the given ones (audited `retry.start`); None
        when no row matches."""
        async with self._conn() as conn:
            created = await failures.create_retry_or_none(conn, actor=self.actor, job_id=job_id,
                                                          error_ids=error_ids)
        if created is None:
            return None
        return {"job": job_view(created[0]), "rows": created[1]}

    async def purge(self, older_than: timedelta) -> int:
        """Delete error rows older than `older_than` (audited `errors.purge`)."""
        async with self._conn() as conn:
            return await failures.purge(conn, older_than, actor=self.actor)

    async def record(self, action: str, parameters: dict[str, Any]) -> None:
        """An audit entry for an action that writes nothing of its own here (a check, a reload)."""
        async with self._conn() as conn:
            await audit.record(conn, actor=self.actor, action=action, parameters=parameters)

    async def act(self, job_id: str, action: Action) -> dict[str, Any]:
        """Apply an operator action through the history engine (audited as `self.actor`)."""
        async with self._conn() as conn:
            job = await jobs.act(conn, parse_job_id(job_id), action, actor=self.actor,
                                 parameters={"via": "monitor"})
        return job_view(job)
