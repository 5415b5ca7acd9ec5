"""`streamer verify --repair`: what the comparison found, re-landed through the topic as a job.

Missing and different leads become one **retry job** (`streamer/state/failures.py`): each is filed
as an error row (`verify: missing at the destination` / `verify: different at the destination`)
marked with the job's id, so the job runner produces their *current* source rows as `op=r` events
and the sink lands them like any event: the same mapping, stale-write guard and error handling,
one write path to the destination. Once the sink reports a lead landed, its error row is deleted
(`failures.clear_landed`); one it refuses stays, as any failed lead does. The job, its error rows
and its audit entry are written in one transaction when the comparison ends, so no exporter takes
it up half filed; the ids are streamed into it leaf by leaf, never held in memory.

Extra leads (at the destination only) are deleted only when asked (`--delete-extra`), directly
through PostgREST with `X-Sync-Source: tabuladormax`, after checking again that the source still
lacks each one; the deletion is audited (`verify.delete_extra`). Why not through the topic: a
delete event would be dropped by a sink running with `sink.delete_mode = ignore`, and a lead
created at the destination whose reverse event is still on its way would come back anyway (the
applier writes it to the source, the next verify finds it missing and repairs it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from connectors.postgres import slot as pg
from connectors.postgres.errors import translate_errors
from connectors.postgrest.client import PostgrestClient
from schemas.lead import SYNC_SOURCE_HEADER, SYNC_SOURCE_LOCAL
from streamer.config import Settings
from streamer.state import audit, store
from streamer.state.store import Job
from streamer.texts import said
from streamer.verify.run import Result, source_table, verify

ERRORS = "public.gestao_scouter_export_errors"
# Stored as the error rows' message, in English; the console shows them translated (their codes:
# streamer.texts.code_of).
MESSAGES = {"missing": said("verify.missing_row").english, "different": said("verify.different_row").english}
DELETE_CHUNK = 1000


@dataclass
class Repair:
    """Collects a comparison's findings on `conn` (inside a transaction the caller opened): the
    retry job for missing and different leads, and the extra ids in a temporary table."""

    conn: asyncpg.Connection
    actor: str
    keep_extra: bool = False
    job: Job | None = None
    filed: dict[str, int] = field(default_factory=lambda: {"missing": 0, "different": 0})
    extra: int = 0

    async def prepare(self) -> None:
        if self.keep_extra:
            with translate_errors("create a table for extra leads"):
                await self.conn.execute("CREATE TEMPORARY TABLE IF NOT EXISTS streamer_verify_extra "
                                        "(id bigint PRIMARY KEY) ON COMMIT PRESERVE ROWS")

    async def on_leaf(self, missing: list[int], extra: list[int], different: list[int]) -> None:
        for kind, ids in (("missing", missing), ("different", different)):
            if not ids:
                continue
            if self.job is None:
                self.job = await store.create_job(self.conn, kind="retry", actor=self.actor,
                                                  options={"verify": True})
            assert self.job is not None  # only scheduled jobs can conflict
            with translate_errors("file leads to repair"):
                await self.conn.execute(
                    f"INSERT INTO {ERRORS} (lead_id, error_message, retry_job_id) "
                    f"SELECT unnest($1::bigint[]), $2, $3::uuid", ids, MESSAGES[kind], self.job.id)
            self.filed[kind] += len(ids)
        if extra and self.keep_extra:
            with translate_errors("note extra leads"):
                await self.conn.execute("INSERT INTO pg_temp.streamer_verify_extra SELECT unnest($1::bigint[]) "
                                        "ON CONFLICT DO NOTHING", extra)
            self.extra += len(extra)

    async def finish(self) -> None:
        """Audit what was filed (the job's own `retry.start` entry names it as a verify repair)."""
        if self.job is not None:
            await audit.record(self.conn, actor=self.actor, action="verify.repair", job_id=self.job.id,
                               parameters=dict(self.filed))


async def delete_extra(settings: Settings, conn: asyncpg.Connection, source_table: str, actor: str) -> int:
    """Delete at the destination the noted extra leads the source still lacks; how many were."""
    deleted, after, first = 0, None, list[int]()
    headers = {SYNC_SOURCE_HEADER: SYNC_SOURCE_LOCAL}
    async with PostgrestClient.from_settings(settings.destination, headers=headers) as client:
        while True:
            with translate_errors("read extra leads"):
                rows = await conn.fetch(
                    f"SELECT e.id FROM pg_temp.streamer_verify_extra e WHERE ($1::bigint IS NULL OR e.id > $1) "
                    f"AND NOT EXISTS (SELECT FROM {source_table} t WHERE t.id = e.id) ORDER BY e.id LIMIT $2",
                    after, DELETE_CHUNK)
            if not rows:
                break
            ids = [r["id"] for r in rows]
            await client.delete(settings.destination.table, ids)
            deleted += len(ids)
            first.extend(ids[:max(0, 20 - len(first))])
            after = ids[-1]
    if deleted:
        await audit.record(conn, actor=actor, action="verify.delete_extra",
                           parameters={"deleted": deleted, "first_ids": first, "table": settings.destination.table})
    return deleted


async def verify_and_repair(settings: Settings, *, actor: str, columns: tuple[str, ...] = (),
                            delete_extras: bool = False, keep: int | None = None) -> tuple[Result, Repair, int]:
    """Compare, file a retry job for what is missing or different, and (if asked) delete the extra
    leads; return the comparison, what was filed, and how many extra leads were deleted."""
    async with pg.connect(settings.source.dsn.get_secret_value()) as conn:
        repair = Repair(conn, actor, keep_extra=delete_extras)
        await repair.prepare()
        async with conn.transaction():
            result = await verify(settings, columns=columns, keep=keep, on_leaf=repair.on_leaf)
            await repair.finish()
        deleted = await delete_extra(settings, conn, source_table(settings), actor) if delete_extras else 0
    return result, repair, deleted
