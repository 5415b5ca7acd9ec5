"""Capture mode `replication`, SQL-interface reader: read the pgoutput slot through
`pg_logical_slot_peek_binary_changes`, produce each page's changes, and move the slot with
`pg_replication_slot_advance` only past transactions Kafka has acknowledged.

This is the fallback (`STREAMER_SOURCE__SLOT_READER=sql`, or `auto` where the server refuses
replication connections); the default reader is the streaming protocol (`protocol.py`). Measured
side by side (scripts/bench_capture.py; figures and command in the README's capture section), the
protocol drains a backlog into Kafka faster and costs the source less CPU per change, and while
idle it runs no SQL at all, where this reader peeks every `poll_interval_ms`: each peek starts a
logical decoding (CPU on the source, and a "starting logical decoding" line in its log), and the
slot shows `active = false` between peeks. Idle-slot advancement, which the protocol gets from
keepalives, comes here from heartbeat messages (docs/cdc-failure-modes.md §2, point 1).

A TRUNCATE is reported, not propagated (truncate.py). A non-transactional logical message
written by another tool is a unit of its own the slot moves past (assembler.TxBatch.for_message).
"""

from __future__ import annotations

import time

import asyncpg

from connectors.postgres import slot as slots
from connectors.postgres.assembler import AckTracker, ChangeRecord, TransactionAssembler
from connectors.postgres.lsn import format_lsn
from connectors.postgres.pgoutput import decode
from streamer.capture.events import from_pgoutput, relation_columns
from streamer.capture.produce import EventBuffer
from streamer.capture.snapshot import restart_snapshot
from streamer.capture.truncate import report_truncate
from streamer.logging import get_logger
from streamer.metrics import Metrics
from streamer.sections import SourceSettings


class ReplicationSource:
    reader = "sql"

    def __init__(self, conn: asyncpg.Connection, settings: SourceSettings, metrics: Metrics) -> None:
        self.conn, self.settings, self.metrics = conn, settings, metrics
        self.database = settings.database  # parsed from the DSN once, not per event
        self.assembler = TransactionAssembler(max_records=settings.produce_batch)
        self.log = get_logger(__name__, slot=settings.slot)
        self._last_heartbeat = time.monotonic()
        self._last_status = 0.0
        self._confirmed: int | None = None  # the slot's position after our last advance
        self._relation: object = None  # the last RELATION whose columns the encoder learned
        self._commit_lsn: int | None = None  # the transaction being read, and the one before it
        self._last_commit_lsn: int | None = None

    @property
    def name(self) -> str:
        return self.settings.slot

    async def prepare(self) -> None:
        """Refuse to start on a misconfigured source; create the publication and slot if missing.

        A slot created here while a snapshot already ran (dropped and recreated outside the CLI,
        or lost in a failover) starts at "now": the changes made while no slot existed are in no
        stream, so the snapshot runs again (docs/cdc-failure-modes.md §2, point 4)."""
        await slots.preflight(self.conn)
        s = self.settings
        if await slots.ensure_publication(self.conn, s.publication, s.table, s.schema_name):
            self.log.info("publication created", publication=s.publication)
        if await slots.ensure_slot(self.conn, s.slot):
            self.log.info("slot created", plugin="pgoutput")
            # Not in mode `never` (no snapshot wanted); in `always` too, as a snapshot left
            # `running` would otherwise resume past leads whose changes were lost.
            if s.snapshot_mode != "never":
                previous = await restart_snapshot(self.conn, self.name)
                if previous not in (None, "pending"):
                    self.log.warning("new slot: snapshot starts again", previous_snapshot=previous,
                                     reason="changes made while the slot did not exist were not captured")

    async def pump(self, buffer: EventBuffer) -> int:
        """Read one page (whole transactions), produce it, advance the slot; return the rows the
        slot moved past: 0 when it did not move, so the loop idles instead of reading the same
        page again at once."""
        s, tracker, read = self.settings, AckTracker(), 0
        self.assembler.reset()
        stream = slots.stream_changes(self.conn, s.slot, s.publication, s.page_size, prefetch=s.produce_batch)
        async for change in stream:
            read += 1
            for batch in self.assembler.feed(decode(change.data), change.lsn):
                token = tracker.sent(batch)
                for record in batch.records:
                    self.add(record, buffer)
                buffer.when_acked(lambda t=token: tracker.acked(t))  # type: ignore[misc]
                if buffer.full:
                    await buffer.flush()
        await buffer.flush()
        safe = tracker.safe_lsn()
        if safe is None:
            return 0
        before, after = self._confirmed, await slots.advance(self.conn, s.slot, safe)
        self._confirmed = after
        if not moved_forward(before, after):
            self.log.debug("page read, slot did not move", rows=read, lsn=format_lsn(after))
            return 0
        return read

    def add(self, record: ChangeRecord, buffer: EventBuffer) -> None:
        if record.op == "t":
            report_truncate(self.log, self.metrics, table=f"{record.relation.namespace}.{record.relation.name}",
                            lsn=format_lsn(record.commit_lsn), tx_id=record.xid)
            return
        if record.relation is not self._relation:
            self._relation = record.relation
            buffer.encoder.learn(relation_columns(record.relation))
        if record.commit_lsn != self._commit_lsn:
            self._last_commit_lsn, self._commit_lsn = self._commit_lsn, record.commit_lsn
        event = from_pgoutput(record, db=self.database, last_commit_lsn=self._last_commit_lsn)
        if event is not None:
            buffer.add(event)

    async def idle(self) -> None:
        """Nothing moved: write a heartbeat when due, so a quiet table does not pin WAL."""
        now = time.monotonic()
        if now - self._last_heartbeat >= self.settings.heartbeat_seconds:
            await slots.emit_heartbeat(self.conn)
            self.metrics.heartbeat_sent()
            self._last_heartbeat = now

    async def report(self, every: float = 5.0) -> None:
        """Refresh the slot gauges (at most every `every` seconds)."""
        if time.monotonic() - self._last_status < every:
            return
        self._last_status = time.monotonic()
        status = await slots.slot_status(self.conn, self.settings.slot)
        self.metrics.slot_state(status is not None, status.retained_wal_bytes if status else None)


def moved_forward(before: int | None, after: int) -> bool:
    """Whether an advance moved the slot (`before` None: the first advance of this session).

    A page that leaves the slot where it was would be peeked again at once, so the capture
    treats it as "nothing to do" and idles (heartbeat when due, then the poll interval)."""
    return before is None or after > before
