"""Notify mode's outbox: its report is cheap and fails like every other database call, its
trigger works for roles that may only write leads, and its migration upgrades an old outbox."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from connectors.postgres import slot as slots
from connectors.postgres.errors import TransientError
from connectors.postgres.migrations import apply_files
from devstack.stack import Endpoints
from schemas.sql_files import migration_files
from streamer.capture.outbox import OutboxSource
from streamer.metrics import Metrics
from streamer.sections import SourceSettings
from tests.streamer.capture.conftest import capture_settings


class Answers:
    """A connection whose fetchval answers from a list (an exception is raised), counting calls."""

    def __init__(self, *answers: Any) -> None:
        self.answers, self.calls = list(answers), 0

    async def fetchval(self, query: str, *args: Any) -> Any:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def outbox(conn: Answers) -> OutboxSource:
    return OutboxSource(conn, SourceSettings(capture_mode="notify"), Metrics())  # type: ignore[arg-type]


async def test_report_raises_database_errors_as_the_projects_own() -> None:
    """A statement timeout while measuring the backlog is a retriable TransientError (the capture
    restarts its session), not a raw asyncpg error that would stop the service."""
    source = outbox(Answers(asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout")))
    with pytest.raises(TransientError) as caught:
        await source.report()
    assert caught.value.retriable and "outbox backlog" in str(caught.value)


async def test_report_reads_the_backlog_at_most_every_five_seconds() -> None:
    """report() runs after every pump; only the first call in five seconds queries the database."""
    conn = Answers(12, 13)
    source = outbox(conn)
    for _ in range(100):
        await source.report()
    assert conn.calls == 1


@pytest.mark.integration
async def test_a_role_that_may_only_write_leads_is_captured(
    services: Endpoints, source_db: asyncpg.Connection, capture_table: str, unique: str
) -> None:
    """A writer with DML on the leads table and no privilege on streamer_outbox (service_role,
    an application's role) writes through the capture trigger: it runs as its owner."""
    settings = capture_settings(services, unique, capture_table, "notify")
    async with slots.connect(services.source_dsn) as conn:
        await OutboxSource(conn, settings.source, Metrics()).prepare()
    writer = f"writer_{unique}"
    await source_db.execute(f"CREATE ROLE {writer} NOLOGIN")
    await source_db.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {capture_table} TO {writer}")
    tx = source_db.transaction()  # rolled back: the shared outbox stays as it was
    await tx.start()
    try:
        await source_db.execute(f"SET LOCAL ROLE {writer}")
        await source_db.execute(f"INSERT INTO {capture_table} (id, tentativas_contato) VALUES (1, 0)")
        await source_db.execute(f"UPDATE {capture_table} SET tentativas_contato = 1 WHERE id = 1")
        await source_db.execute(f"DELETE FROM {capture_table} WHERE id = 1")
        await source_db.execute("RESET ROLE")
        rows = await source_db.fetch("SELECT op, lead_id FROM public.streamer_outbox "
                                     "WHERE tx_id = pg_current_xact_id()::text::bigint ORDER BY id")
    finally:
        await tx.rollback()
        await source_db.execute(f"REVOKE ALL ON {capture_table} FROM {writer}")
        await source_db.execute(f"DROP ROLE {writer}")
    assert [(r["op"], r["lead_id"]) for r in rows] == [("c", 1), ("u", 1), ("d", 1)]


OLD_OUTBOX = """CREATE TABLE public.streamer_outbox (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tx_id       bigint NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
  op          char(1) NOT NULL CHECK (op IN ('c', 'u', 'd')),
  lead_id     bigint NOT NULL,
  old_row     jsonb,
  new_row     jsonb,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
)"""  # as 030_capture.sql created it before TRUNCATE markers


@pytest.mark.integration
async def test_the_migration_widens_an_outbox_created_before_truncate_markers(fresh_db: str) -> None:
    """On a database whose outbox predates markers and holds a backlog, the migration keeps the
    backlog, then accepts a marker (op 't', no lead) and still refuses a change without a lead;
    run again, it changes nothing."""
    conn = await asyncpg.connect(fresh_db)
    try:
        await conn.execute(OLD_OUTBOX)
        await conn.execute("INSERT INTO public.streamer_outbox (op, lead_id, new_row) VALUES ('c', 7, '{}')")
        await apply_files(conn, migration_files("source"))
        await conn.execute("INSERT INTO public.streamer_outbox (op) VALUES ('t')")
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("INSERT INTO public.streamer_outbox (op) VALUES ('c')")
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("INSERT INTO public.streamer_outbox (op, lead_id) VALUES ('t', 7)")
        sql = next(f.sql for f in migration_files("source") if f.name.endswith("030_capture.sql"))
        await conn.execute(sql)
        rows = await conn.fetch("SELECT op, lead_id FROM public.streamer_outbox ORDER BY id")
    finally:
        await conn.close()
    assert [(r["op"], r["lead_id"]) for r in rows] == [("c", 7), ("t", None)]
