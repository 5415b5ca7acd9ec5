"""Capture mode `notify`: a trigger writes each change of leads to `streamer_outbox` and sends
NOTIFY; we drain the outbox in id order (a lead's commit order, see schemas/sql/source/030),
produce, and delete rows only after Kafka acknowledged them. A missed notification costs at most
`outbox_poll_seconds`: the outbox is also polled, and drained at once after every (re)connect.

A TRUNCATE fires no row trigger; a statement trigger writes a marker row (op 't', no lead) in
its place, which the capture reports and never propagates (truncate.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg

from connectors.postgres.errors import translate_errors
from connectors.postgres.slot import quote_ident
from schemas.event import from_row
from schemas.json_exact import loads as loads_exact
from streamer.capture.produce import EventBuffer
from streamer.capture.truncate import report_truncate
from streamer.logging import get_logger
from streamer.metrics import Metrics
from streamer.sections import SourceSettings

CHANNEL = "streamer_outbox"
TRIGGER = "streamer_outbox_capture"
TRUNCATE_TRIGGER = "streamer_outbox_truncate"

READ = """SELECT id, tx_id, op, old_row::text AS old_row, new_row::text AS new_row,
                 (extract(epoch FROM created_at) * 1000)::bigint AS ts_ms
            FROM public.streamer_outbox ORDER BY id LIMIT $1"""


class OutboxSource:
    def __init__(self, conn: asyncpg.Connection, settings: SourceSettings, metrics: Metrics) -> None:
        self.conn, self.settings, self.metrics = conn, settings, metrics
        self.log = get_logger(__name__, outbox=CHANNEL)
        self._woken = asyncio.Event()
        self._last_status = 0.0

    @property
    def name(self) -> str:
        return f"outbox:{self.settings.schema_name}.{self.settings.table}"

    async def prepare(self) -> None:
        """Install the capture triggers (idempotent) and listen for their notifications."""
        s = self.settings
        table = f"{quote_ident(s.schema_name)}.{quote_ident(s.table)}"
        with translate_errors("install the outbox triggers"):
            await self.conn.execute(
                f"CREATE OR REPLACE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION public.streamer_outbox_capture()")
            await self.conn.execute(
                f"CREATE OR REPLACE TRIGGER {TRUNCATE_TRIGGER} AFTER TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION public.streamer_outbox_truncated()")
            await self.conn.add_listener(CHANNEL, self._notified)
        self._woken.set()  # drain whatever accumulated while we were away

    def _notified(self, *_: Any) -> None:
        self._woken.set()

    async def pump(self, buffer: EventBuffer) -> int:
        """Produce up to a page of outbox rows, then delete the acknowledged ones."""
        self._woken.clear()
        s = self.settings
        with translate_errors("read the outbox"):
            rows = await self.conn.fetch(READ, s.page_size)
        database = s.database  # parsed from the DSN once per page, not per row
        for row in rows:
            if row["op"] == "t":
                report_truncate(self.log, self.metrics, table=f"{s.schema_name}.{s.table}", tx_id=row["tx_id"],
                                outbox_id=row["id"])
                continue
            old = loads_exact(row["old_row"]) if row["old_row"] else None
            new = loads_exact(row["new_row"]) if row["new_row"] else None
            buffer.add(from_row(row["op"], old, new, connector="outbox", db=database, table=s.table,
                                ts_ms=row["ts_ms"], tx_id=row["tx_id"]))
            if buffer.full:
                await buffer.flush()
        await buffer.flush()
        if rows:
            with translate_errors("delete acknowledged outbox rows"):
                await self.conn.execute("DELETE FROM public.streamer_outbox WHERE id = ANY($1::bigint[])",
                                        [r["id"] for r in rows])
        return len(rows)

    async def idle(self) -> None:
        """Wait for a notification, or poll after `outbox_poll_seconds`."""
        try:
            await asyncio.wait_for(self._woken.wait(), self.settings.outbox_poll_seconds)
        except TimeoutError:
            pass

    async def report(self) -> None:
        """Mark the source in use and log the backlog (at most every 5 s, as it runs after every
        pump). The backlog is the span of ids, read at both ends of the primary key: an upper
        bound (rolled-back writes leave gaps) that costs the same on 10 rows or 10 million,
        where count(*) would scan them all."""
        if time.monotonic() - self._last_status < 5:
            return
        self._last_status = time.monotonic()
        with translate_errors("measure the outbox backlog"):
            span = await self.conn.fetchval("SELECT max(id) - min(id) + 1 FROM public.streamer_outbox")
        self.metrics.slot_state(True, None)
        self.log.debug("outbox backlog", rows_at_most=span or 0)
