"""One batch into TabuladorMax's `leads`, in one transaction tagged as the reverse path's.

`set_config('streamer.sync_source', 'gestao_scouter', true)` lasts for the transaction only;
the source's tagging trigger (schemas/sql/source/010_leads_capture.sql) reads it and marks the rows
`sync_source = 'gestao_scouter'`, which is what keeps them from going back to Gestão Scouter.
The rows set `updated_at` themselves, so the trigger keeps it (it moves `updated_at` only on an
update that left it unchanged, and the upsert updates only when it is newer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import orjson

from connectors.postgres.errors import translate_errors
from schemas.lead import SYNC_SOURCE_REMOTE
from streamer.applier.plan import Row, lock_sql, rounds, upsert_sql

TAG_SQL = "SELECT set_config('streamer.sync_source', $1, true)"


@dataclass(frozen=True)
class Written:
    applied: int
    stale: int


class LeadStore:
    """The applier's writes, on one connection it is given (and does not own)."""

    def __init__(self, conn: asyncpg.Connection, table: str = "public.leads") -> None:
        self._conn = conn
        self._upsert, self._lock = upsert_sql(table=table), lock_sql(table)

    async def write(self, rows: Sequence[Row]) -> Written:
        """Upsert `rows` in one transaction; how many were written, how many stale.

        A lead may appear more than once (its versions in arrival order, each newer than the
        one before): each round of `rounds` is one statement, so every version meets the
        `updated_at` guard against what the previous round left, as if applied one by one."""
        if not rows:
            return Written(0, 0)
        ids = sorted({int(row["id"]) for row in rows})
        written = 0
        with translate_errors(f"applying {len(rows)} leads"):
            async with self._conn.transaction():
                await self._conn.execute(TAG_SQL, SYNC_SOURCE_REMOTE)
                await self._conn.execute(self._lock, ids)
                for statement in rounds(rows):
                    written += len(await self._conn.fetch(self._upsert, orjson.dumps(statement).decode()))
        return Written(applied=written, stale=len(rows) - written)
