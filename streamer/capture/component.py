"""The capture component: one active instance per slot (or outbox), the others standing by.

    lock -> prepare (preflight, publication + slot / trigger) -> snapshot -> stream until stopped

A transient failure (connection lost, Kafka unavailable) restarts the session after a backoff;
nothing is skipped, because positions only move after Kafka's acknowledgement. A permanent one
(wal_level, privileges) stops the component with a message saying how to fix it.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any, Protocol

import asyncpg

from connectors.kafka.client import Admin, Producer
from connectors.kafka.errors import KafkaConnectorError
from connectors.postgres import slot as slots
from connectors.postgres.columns import table_columns
from connectors.postgres.errors import ConnectionLost, PostgresError, ReplicationRefused
from schemas.debezium import Encoder
from schemas.event import Connector
from streamer.capture import leader
from streamer.capture.outbox import OutboxSource
from streamer.capture.produce import EventBuffer
from streamer.capture.protocol import StreamSource
from streamer.capture.replication import ReplicationSource
from streamer.capture.snapshot import run_snapshot
from streamer.config import Settings
from streamer.lifecycle import run_with_restarts, wait_until_set
from streamer.logging import get_logger
from streamer.metrics import Metrics
from streamer.sections import SourceSettings

log = get_logger(__name__)


class Source(Protocol):
    @property
    def name(self) -> str: ...

    async def prepare(self) -> None: ...

    async def pump(self, buffer: EventBuffer) -> int:
        """Produce what is pending and move the position past it; return the changes consumed.

        0 means the position did not move (nothing to read, or a page that could not be passed),
        and the loop idles: a source that answered "read 1" without moving would be read again at
        once, forever, and its heartbeats would never be written."""
        ...

    async def idle(self) -> None:
        """Nothing moved: wait (a notification, or write a heartbeat when due)."""
        ...

    async def report(self) -> None:
        """Refresh gauges; rate-limited by the source, as it runs after every pump."""
        ...


class CaptureComponent:
    name = "capture"

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings, self.metrics = settings, metrics
        self._streaming = False
        self.source: Source | StreamSource | None = None  # the running session's (tests, diagnostics)

    def ready(self) -> bool:
        return self._streaming

    async def run(self, stopping: asyncio.Event) -> None:
        await run_with_restarts("capture", lambda: self._session(stopping), stopping,
                                retriable=(PostgresError, KafkaConnectorError, OSError), after=self._stopped)

    def _stopped(self) -> None:
        self._streaming = False
        self.metrics.capture_leader(False)

    async def _session(self, stopping: asyncio.Event) -> None:
        s = self.settings
        dsn = s.source.dsn.get_secret_value()
        async with AsyncExitStack() as stack:
            lock_conn = await stack.enter_async_context(slots.connect(dsn))
            conn = await stack.enter_async_context(slots.connect(dsn, session=slots.CAPTURE_SESSION))
            source: Source | StreamSource
            if s.source.capture_mode == "notify":
                source = OutboxSource(conn, s.source, self.metrics)
            elif s.source.slot_reader == "sql":
                source = ReplicationSource(conn, s.source, self.metrics)
            else:
                source = StreamSource(conn, s.source, self.metrics)
            lock_name = f"streamer.capture.{source.name}"
            if not await leader.acquire(lock_conn, lock_name, stopping,
                                        on_standby=lambda: log.info("standing by", lock=lock_name)):
                return
            self.metrics.capture_leader(True)
            await source.prepare()
            if isinstance(source, StreamSource):
                source = await self._open_stream(source, conn, stack)
            self.source = source
            log.info("capture leader", mode=s.source.capture_mode, source=source.name,
                     reader=getattr(source, "reader", None))
            async with Admin(s.kafka) as admin:
                await admin.ensure_topic(s.kafka.leads_topic)
            producer = await stack.enter_async_context(Producer(s.kafka, **producer_options(s.source)))
            encoder = Encoder(s.kafka.encoder_options(
                s.kafka.topic_prefix, await table_columns(conn, s.source.schema_name, s.source.table),
                topic=s.kafka.leads_topic))
            buffer = EventBuffer(producer, s.kafka.leads_topic, self.metrics, limit=s.source.produce_batch,
                                 encoder=encoder)
            connector: Connector = "postgresql" if s.source.capture_mode == "replication" else "outbox"
            snap = await run_snapshot(conn, buffer, s.source, name=source.name, connector=connector,
                                      metrics=self.metrics)
            if snap:
                log.info("snapshot produced", rows=snap)
            self._streaming = True
            sampler = asyncio.create_task(self._sample_source_writes(lock_conn))
            try:
                if isinstance(source, StreamSource):
                    def new_buffer() -> EventBuffer:
                        return EventBuffer(producer, s.kafka.leads_topic, self.metrics, limit=s.source.produce_batch,
                                           encoder=encoder)

                    await source.run(new_buffer, stopping, lambda: check_lock(lock_conn))
                else:
                    await self._stream(source, buffer, lock_conn, stopping)
            finally:
                sampler.cancel()

    async def _open_stream(self, source: StreamSource, conn: asyncpg.Connection,
                           stack: AsyncExitStack) -> Source | StreamSource:
        """The replication connection; with `slot_reader=auto`, the SQL reader where the server
        refuses one (a warning says why and how to allow it)."""
        try:
            await source.connect()
        except ReplicationRefused as exc:
            if self.settings.source.slot_reader != "auto":
                raise
            log.warning("replication connection refused: reading the slot through the SQL interface",
                        reason=str(exc), fix="allow replication connections for this role and host in pg_hba.conf "
                        "(a 'replication' line), or set STREAMER_SOURCE__SLOT_READER=sql to silence this")
            return ReplicationSource(conn, self.settings.source, self.metrics)
        stack.callback(source.close)
        return source

    async def _sample_source_writes(self, conn: asyncpg.Connection, every: float = 15.0) -> None:
        """Count the captured table's writes apart from the capture loop, so an alert can tell
        "the source writes but nothing is captured" even when the loop itself is stuck."""
        s, last = self.settings.source, None
        table = f"{s.schema_name}.{s.table}"
        while True:
            total = await conn.fetchval(
                "SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables WHERE relid = to_regclass($1)",
                table)
            if total is not None and last is not None and total > last:
                self.metrics.source_writes(total - last)
            last = total if total is not None else last
            await asyncio.sleep(every)

    async def _stream(self, source: Source, buffer: EventBuffer, lock_conn: asyncpg.Connection,
                      stopping: asyncio.Event) -> None:
        poll = self.settings.source.poll_interval_ms / 1000
        while not stopping.is_set():
            check_lock(lock_conn)
            consumed = await source.pump(buffer)
            await source.report()
            if consumed == 0:
                await source.idle()
                if self.settings.source.capture_mode == "replication":
                    await wait_until_set(stopping, poll)


def check_lock(lock_conn: asyncpg.Connection) -> None:
    """Raise (a retriable error) once the connection holding the capture lock has closed: another
    instance may hold the lock by now."""
    if lock_conn.is_closed():
        raise ConnectionLost("the capture lock's connection closed")


def producer_options(source: SourceSettings) -> dict[str, Any]:
    """The capture producer's batching and compression (acks=all and idempotence stay)."""
    return {"linger_ms": source.produce_linger_ms, "max_batch_size": source.produce_max_batch_bytes,
            "compression_type": None if source.produce_compression == "none" else source.produce_compression}
