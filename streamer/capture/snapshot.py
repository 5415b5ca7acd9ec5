"""The initial snapshot: every current lead as an `op=r` event, in keyset order by id.

Consistency with the stream: the slot (or the outbox trigger) is created before the snapshot
reads a row, and the stream is produced after the snapshot. So for each lead the topic holds its
snapshot state, then every change committed since the stream's start, in commit order: a change
made before the snapshot read the row is replayed after it, and carries that same state or an
older one that the last change of the lead supersedes. The last event of every lead is therefore
its current state, and the sink's `updated_at` guard keeps a replayed older version from
overwriting a newer one at the destination.
The cursor (last id acknowledged by Kafka) is saved in `streamer_capture_state`, so a
crashed snapshot resumes where it stopped.
"""

from __future__ import annotations

from typing import Literal

import asyncpg

from connectors.postgres.errors import translate_errors
from connectors.postgres.slot import quote_ident
from schemas.event import Connector, from_row, now_ms
from schemas.json_exact import loads as loads_exact
from streamer.capture.produce import EventBuffer
from streamer.metrics import Metrics
from streamer.sections import SourceSettings

Mode = Literal["never", "initial", "always"]


def start_cursor(mode: Mode, status: str | None, cursor: int | None) -> int | None:
    """Where the snapshot starts (None: skip it). Pure, for the three modes and saved states."""
    if mode == "never":
        return None
    if status == "running":
        return cursor or 0  # a snapshot was interrupted: resume it, whatever the mode
    if status == "done" and mode == "initial":
        return None
    return 0


def snapshot_mark(*, first: bool, last: bool) -> Literal["first", "last", "true"]:
    """Debezium's `source.snapshot` for a snapshot row: "first" for the snapshot's first row,
    "last" for its last (known when a page comes back short; after a full last page no row is
    marked), "true" for the others."""
    return "first" if first else "last" if last else "true"


async def run_snapshot(conn: asyncpg.Connection, buffer: EventBuffer, settings: SourceSettings, *, name: str,
                       connector: Connector, metrics: Metrics, page: int = 1000) -> int:
    """Produce the snapshot (or its remainder); return the number of rows produced."""
    with translate_errors("read the snapshot state"):
        state = await conn.fetchrow(
            "SELECT snapshot_status, snapshot_cursor FROM public.streamer_capture_state WHERE name = $1", name)
    status, saved = (state["snapshot_status"], state["snapshot_cursor"]) if state else (None, None)
    cursor = start_cursor(settings.snapshot_mode, status, saved)
    if cursor is None:
        return 0
    await _save(conn, name, "running", cursor, started=cursor == 0)
    table = f"{quote_ident(settings.schema_name)}.{quote_ident(settings.table)}"
    query = f"SELECT t.id, row_to_json(t)::text AS row FROM {table} t WHERE t.id > $1 ORDER BY t.id LIMIT $2"
    produced = 0
    while True:
        with translate_errors("read a snapshot page"):
            rows = await conn.fetch(query, cursor, page)
        if not rows:
            break
        ts, last_page = now_ms(), len(rows) < page
        for n, row in enumerate(rows):
            mark = snapshot_mark(first=cursor == 0 and produced == 0 and n == 0,
                                 last=last_page and n == len(rows) - 1)
            buffer.add(from_row("r", None, loads_exact(row["row"]), connector=connector, db=settings.database,
                                table=settings.table, ts_ms=ts, snapshot=True, snapshot_mark=mark,
                                schema_name=settings.schema_name))
        await buffer.flush()
        cursor = rows[-1]["id"]
        await _save(conn, name, "running", cursor)
        produced += len(rows)
        metrics.snapshot_rows(len(rows))
    await _save(conn, name, "done", cursor)
    return produced


async def restart_snapshot(conn: asyncpg.Connection, name: str) -> str | None:
    """Mark the snapshot of `name` pending again, from the first lead; return the status it had
    (None when no snapshot ever started). For a slot created after a snapshot ran: see
    ReplicationSource.prepare."""
    with translate_errors("reset the snapshot state"):
        previous: str | None = await conn.fetchval(
            """UPDATE public.streamer_capture_state s
                  SET snapshot_status = 'pending', snapshot_cursor = NULL, snapshot_finished_at = NULL,
                      updated_at = now()
                 FROM (SELECT name, snapshot_status FROM public.streamer_capture_state
                        WHERE name = $1 FOR UPDATE) old
                WHERE s.name = old.name
            RETURNING old.snapshot_status""",
            name)
    return previous


async def _save(conn: asyncpg.Connection, name: str, status: str, cursor: int, *, started: bool = False) -> None:
    with translate_errors("save the snapshot state"):
        await conn.execute(
            """INSERT INTO public.streamer_capture_state (name, snapshot_status, snapshot_cursor,
                                                         snapshot_started_at, updated_at)
               VALUES ($1, $2, $3, now(), now())
               ON CONFLICT (name) DO UPDATE SET snapshot_status = EXCLUDED.snapshot_status,
                   snapshot_cursor = EXCLUDED.snapshot_cursor, updated_at = now(),
                   snapshot_started_at = CASE WHEN $4 THEN now()
                                              ELSE streamer_capture_state.snapshot_started_at END,
                   snapshot_finished_at = CASE WHEN EXCLUDED.snapshot_status = 'done' THEN now() END""",
            name, status, cursor, started)
