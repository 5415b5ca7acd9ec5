"""Apply SQL files to a database once each, recording name and checksum.

Every shipped file is written to be idempotent, so a file whose checksum changed is simply
applied again. Each file runs in its own transaction under an advisory lock, so two migrators
racing on one database apply each file once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import asyncpg

from connectors.postgres.connections import close
from connectors.postgres.errors import ConnectionLost, PostgresError, from_sqlstate
from schemas.sql_files import SqlFile

BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS public.streamer_migrations (
  name        text PRIMARY KEY,
  checksum    text NOT NULL,
  applied_at  timestamptz NOT NULL DEFAULT now()
)"""
LOCK_KEY = 0x5EED_5CA7  # any constant: one migrator at a time per database


class MigrationFailed(PostgresError):
    """A shipped SQL file failed (`file`, as role `user`); not retriable: a human fixes the grant
    or the database, then runs the migration again."""

    def __init__(self, file: str, sqlstate: str, message: str, user: str) -> None:
        super().__init__(f"{file}: {message} (SQLSTATE {sqlstate})", sqlstate=sqlstate)
        self.file, self.user = file, user

    @property
    def lacks_privilege(self) -> bool:
        return self.sqlstate == "42501"


@dataclass(frozen=True)
class Outcome:
    name: str
    action: Literal["applied", "reapplied", "unchanged"]


async def apply_files(conn: asyncpg.Connection, files: Sequence[SqlFile]) -> list[Outcome]:
    user = await conn.fetchval("SELECT current_user")
    outcomes: list[Outcome] = []
    current = "bootstrap"
    try:
        await conn.execute(BOOTSTRAP)
        for file in files:
            current = file.name
            outcomes.append(await _apply_one(conn, file))
    except asyncpg.PostgresError as exc:
        raise MigrationFailed(current, exc.sqlstate or "?????", exc.args[0] if exc.args else "", user) from exc
    return outcomes


async def _apply_one(conn: asyncpg.Connection, file: SqlFile) -> Outcome:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
        known = await conn.fetchval("SELECT checksum FROM public.streamer_migrations WHERE name = $1", file.name)
        if known == file.checksum:
            return Outcome(file.name, "unchanged")
        await conn.execute(file.sql)
        await conn.execute(
            """INSERT INTO public.streamer_migrations (name, checksum) VALUES ($1, $2)
               ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()""",
            file.name, file.checksum,
        )
    return Outcome(file.name, "applied" if known is None else "reapplied")


async def apply_to(dsn: str, files: Sequence[SqlFile], *, connect_timeout: float = 15) -> list[Outcome]:
    """Connect to `dsn`, apply `files`, disconnect. A failing file leaves as `MigrationFailed`; a
    connection that fails as the `PostgresError` of its SQLSTATE (`ConnectionLost` for a socket
    error), its message naming asyncpg's error (`InvalidPasswordError: ...`)."""
    try:
        conn = await asyncpg.connect(dsn, timeout=connect_timeout)
        try:
            return await apply_files(conn, files)
        finally:
            await close(conn)
    except asyncpg.PostgresError as exc:  # connecting (apply_files raises MigrationFailed for its own)
        raise from_sqlstate(getattr(exc, "sqlstate", None), f"{type(exc).__name__}: {exc}") from exc
    except OSError as exc:  # refused, unreachable, reset, timed out (TimeoutError is an OSError)
        raise ConnectionLost(f"{type(exc).__name__}: {exc}") from exc
