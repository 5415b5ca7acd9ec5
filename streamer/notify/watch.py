"""Reading what raises a notice: jobs that failed, new rows of the error table, components not
ready. Each watcher remembers where it stopped, so a job or an error is told about once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from connectors.postgres.errors import translate_errors
from streamer.notify.message import ErrorBurst, FailedJob, SinkBlocked
from streamer.state.failures import ERRORS
from streamer.state.store import TABLE as JOBS

# A component's name -> (ready, alive): what /readyz and /healthz say of it (cli/components.py
# hands the notifier the components of its process).
Readiness = Callable[[], Mapping[str, tuple[bool, bool]]]


@dataclass
class FailedJobs:
    """Jobs that reached `failed` after the last one seen (`failed_after`, then by id)."""

    after: tuple[datetime, str] | None = None

    async def start(self, conn: asyncpg.Connection) -> None:
        """From now on: a job that failed before the notifier started is not told about."""
        with translate_errors("read the time"):
            self.after = (await conn.fetchval("SELECT now()"), "")

    async def poll(self, conn: asyncpg.Connection) -> list[FailedJob]:
        assert self.after is not None
        with translate_errors("read failed jobs"):
            rows = await conn.fetch(
                f"SELECT id::text AS id, kind, start_date, end_date, total_leads, exported_leads, error_leads, "
                f"finished_at, error_message FROM {JOBS} WHERE status = 'failed' AND finished_at IS NOT NULL "
                f"AND (finished_at, id::text) > ($1, $2) ORDER BY finished_at, id LIMIT 500", *self.after)
        if rows:
            self.after = (rows[-1]["finished_at"], rows[-1]["id"])
        return [FailedJob(id=r["id"], kind=r["kind"], start_date=r["start_date"], end_date=r["end_date"],
                          total=r["total_leads"], landed=r["exported_leads"], failed=r["error_leads"],
                          finished_at=r["finished_at"], error_class=FailedJob.error_class_of(r["error_message"]))
                for r in rows]


@dataclass
class ErrorRows:
    """Rows of the error table newer than the last burst told about: a burst once `threshold` of
    them fall within the last `window_seconds`. Reads counts only, never a row's content."""

    threshold: int
    window_seconds: float
    seen_id: int = 0

    async def start(self, conn: asyncpg.Connection) -> None:
        with translate_errors("read the error table"):
            self.seen_id = await conn.fetchval(f"SELECT coalesce(max(id), 0) FROM {ERRORS}")

    async def poll(self, conn: asyncpg.Connection) -> ErrorBurst | None:
        with translate_errors("count errors"):
            rows = await conn.fetch(
                f"SELECT response_status, job_id::text AS job_id, count(*) AS n, max(id) AS last FROM {ERRORS} "
                f"WHERE id > $1 AND created_at > now() - make_interval(secs => $2) GROUP BY 1, 2",
                self.seen_id, self.window_seconds)
        count = sum(r["n"] for r in rows)
        if count < self.threshold:
            return None
        self.seen_id = max(r["last"] for r in rows)
        by_status: dict[int | None, int] = {}
        by_job: dict[str | None, int] = {}
        for r in rows:
            by_status[r["response_status"]] = by_status.get(r["response_status"], 0) + r["n"]
            by_job[r["job_id"]] = by_job.get(r["job_id"], 0) + r["n"]
        return ErrorBurst(count=count, window_seconds=self.window_seconds, threshold=self.threshold,
                          by_status=by_status, by_job=by_job)


@dataclass
class NotReady:
    """Components not ready for longer than `after` seconds: told once per episode (until ready again)."""

    after: float
    watched: tuple[str, ...] = ("sink",)
    _since: dict[str, float] = field(default_factory=dict)
    _told: set[str] = field(default_factory=set)

    def poll(self, states: Mapping[str, tuple[bool, bool]], now: float) -> list[SinkBlocked]:
        found = []
        for name in self.watched:
            if name not in states:
                continue
            ready, alive = states[name]
            if ready:
                self._since.pop(name, None)
                self._told.discard(name)
                continue
            since = self._since.setdefault(name, now)
            if name not in self._told and now - since >= self.after:
                self._told.add(name)
                found.append(SinkBlocked(component=name, seconds=now - since, alive=alive))
        return found
