"""One batch into TabuladorMax's `leads`, in one transaction tagged as the reverse path's.

`set_config('streamer.sync_source', 'gestao_scouter', true)` lasts for the transaction only;
the source's tagging trigger (schemas/sql/source/010_leads_capture.sql) reads it and marks the rows
`sync_source = 'gestao_scouter'`, which is what keeps them from going back to Gestão Scouter.
The rows set `updated_at` themselves, so the trigger keeps it (it moves `updated_at` only on an
update that left it unchanged, and the upsert updates only when it is newer).

A row marked update-only (a partial update, plan.py) is written only over a stored lead, or one
an earlier round of the same batch created; otherwise it is left out and returned in `missing`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import orjson

from connectors.postgres.errors import translate_errors
from schemas.lead import SYNC_SOURCE_REMOTE
from streamer.applier.plan import Row, lock_sql, round_positions, upsert_sql

TAG_SQL = "SELECT set_config('streamer.sync_source', $1, true)"


@dataclass(frozen=True)
class Written:
    """What a write did: rows applied, rows stale (not newer than the stored lead), and the
    update-only rows left unwritten because TabuladorMax does not have their lead."""

    applied: int
    stale: int
    missing: tuple[Row, ...] = ()


class LeadStore:
    """The applier's writes, on one connection it is given (and does not own)."""

    def __init__(self, conn: asyncpg.Connection, table: str = "public.leads") -> None:
        self._conn = conn
        self._upsert, self._lock = upsert_sql(table=table), lock_sql(table)

    async def write(self, rows: Sequence[Row], update_only: Sequence[bool] = ()) -> Written:
        """Upsert `rows` in one transaction; how many were written, how many stale, and which
        update-only rows (`update_only[i]` for `rows[i]`; none if empty) found no lead.

        A lead may appear more than once (its versions in arrival order, each newer than the
        one before): each round of `rounds` is one statement, so every version meets the
        `updated_at` guard against what the previous round left, as if applied one by one."""
        if not rows:
            return Written(0, 0)
        only_update = list(update_only) or [False] * len(rows)
        ids = sorted({int(row["id"]) for row in rows})
        written = 0
        missing: list[Row] = []
        with translate_errors(f"applying {len(rows)} leads"):
            async with self._conn.transaction():
                await self._conn.execute(TAG_SQL, SYNC_SOURCE_REMOTE)
                stored = {record["id"] for record in await self._conn.fetch(self._lock, ids)}
                for positions in round_positions(rows):
                    statement = [rows[i] for i in positions if not only_update[i] or rows[i]["id"] in stored]
                    missing += [rows[i] for i in positions if only_update[i] and rows[i]["id"] not in stored]
                    if statement:
                        landed = await self._conn.fetch(self._upsert, orjson.dumps(statement).decode())
                        written += len(landed)
                        stored.update(record["id"] for record in landed)
        return Written(applied=written, stale=len(rows) - written - len(missing), missing=tuple(missing))
