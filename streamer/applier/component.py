"""The applier Component: consume the reverse topic, write each batch in one transaction, then
commit the batch's offsets (DESIGN.md, Delivery: the position moves only after the write).

Failures (DESIGN.md, Failure): a transient database error is retried with backoff and never
skipped; a lost connection or an unreachable Kafka restarts the consumer and the connection
(uncommitted events come again: harmless, the upsert is idempotent); an event that can never be
applied (undecodable, invalid, refused by the database on its own) is counted, logged by reason
and sent to `<topic>.dlq`, and the rest go on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any

import asyncpg
import orjson

from connectors.kafka.client import Admin, Consumer, Producer
from connectors.kafka.errors import KafkaConnectorError
from connectors.postgres.errors import ConnectionLost, PostgresError, translate_errors
from connectors.postgres.slot import quote_ident
from streamer.applier.plan import Plan, Row, plan_batch
from streamer.applier.store import LeadStore, Written
from streamer.config import Settings, SinkSettings
from streamer.lifecycle import wait_until_set
from streamer.logging import get_logger
from streamer.metrics import Metrics
from streamer.sink.mapping import IDENTITY, FieldMapping

log = get_logger(__name__)


def configured_mapping(sink: SinkSettings) -> FieldMapping:
    """The forward field mapping the settings name (`sink.mapping_file`), with their policy.

    TODO(sink): use the sink's own loader once it has one, so both paths read the file alike."""
    mapping = FieldMapping.load(sink.mapping_file) if sink.mapping_file else IDENTITY
    return mapping.with_policy(sink.unmapped_columns)


class Stopped(Exception):
    """Asked to stop while a batch was still unwritten: leave without committing it."""


class ReverseApplier:
    """`streamer run` component "applier"."""

    name = "applier"

    def __init__(self, settings: Settings, metrics: Metrics, *, mapping: FieldMapping | None = None) -> None:
        self._settings, self._metrics = settings, metrics
        self._topic = settings.kafka.reverse_topic
        self._dead_letter_topic = f"{self._topic}.dlq"
        self._inverse = (mapping or configured_mapping(settings.sink)).inverse()
        self._ready = False

    def ready(self) -> bool:
        return self._ready

    async def run(self, stopping: asyncio.Event) -> None:
        delay = self._settings.applier.backoff_initial_ms / 1000
        while not stopping.is_set():
            try:
                await self._session(stopping)
                return
            except Stopped:
                return
            except (KafkaConnectorError, PostgresError) as exc:
                if not exc.retriable:
                    raise
                self._ready = False
                log.warning("applier: connection lost; reconnecting", error=str(exc), retry_in=delay)
                await wait_until_set(stopping, delay)
                delay = min(delay * 2, self._settings.applier.backoff_max_ms / 1000)

    async def _session(self, stopping: asyncio.Event) -> None:
        settings = self._settings
        async with Admin(settings.kafka) as admin:  # the broker may not create topics on first use
            for topic in (self._topic, self._dead_letter_topic):
                await admin.ensure_topic(topic)
        async with AsyncExitStack() as stack:
            with translate_errors("connecting to TabuladorMax"):
                conn = await asyncpg.connect(settings.source.dsn.get_secret_value())
            stack.push_async_callback(conn.close)
            consumer = await stack.enter_async_context(
                Consumer(settings.kafka, self._topic, group_id=settings.applier.group_id))
            dead_letters = await stack.enter_async_context(Producer(settings.kafka))
            self._ready = True
            log.info("applier: consuming", topic=self._topic, group=settings.applier.group_id)
            table = f"{quote_ident(settings.source.schema_name)}.{quote_ident(settings.source.table)}"
            await self._loop(consumer, LeadStore(conn, table), dead_letters, stopping)

    async def _loop(self, consumer: Consumer, store: LeadStore, dead_letters: Producer,
                    stopping: asyncio.Event) -> None:
        applier = self._settings.applier
        while not stopping.is_set():
            batch = await consumer.getmany(timeout_ms=applier.poll_timeout_ms, max_records=applier.batch_size)
            records = [record for records in batch.values() for record in records]
            if not records:
                continue
            await self.apply(records, store, dead_letters, stopping)
            offsets = {tp: records[-1].offset + 1 for tp, records in batch.items() if records}
            try:
                await consumer.commit(offsets)
            except KafkaConnectorError as exc:  # a rebalance: the batch comes again, harmlessly
                log.warning("applier: commit failed; the batch will be applied again", error=str(exc))

    async def apply(self, records: Sequence[Any], store: LeadStore, dead_letters: Producer,
                    stopping: asyncio.Event) -> Written:
        """Write one polled batch; poison goes to the dead-letter topic. Returns what was written."""
        started = time.perf_counter()
        plan = plan_batch([r.value for r in records], self._inverse)
        written, refused = await self._write(plan, store, stopping)
        dlq = self._dead_letter_topic
        for position, exc in plan.skipped:
            record = records[position]
            self._metrics.applier_rejected(exc.reason)
            log.warning("applier: event not applied", reason=exc.reason, detail=exc.detail,
                        partition=record.partition, offset=record.offset)
            if exc.reason != "echo":
                await dead_letters.send(dlq, record.value, key=record.key, headers=[("error", exc.reason.encode())])
        for row, error in refused:
            # The database refused this lead alone (a constraint, a value out of range): the
            # dead letter holds the row as we tried to write it, under TabuladorMax's names.
            self._metrics.applier_rejected("refused")
            log.warning("applier: lead refused by the database", lead_id=row["id"], sqlstate=error.sqlstate)
            await dead_letters.send(dlq, orjson.dumps(row), key=str(row["id"]).encode(),
                                    headers=[("error", b"refused"), ("sqlstate", (error.sqlstate or "").encode())])
        self._metrics.applier_batch(written.applied, written.stale + plan.superseded, time.perf_counter() - started)
        return written

    async def _write(self, plan: Plan, store: LeadStore,
                     stopping: asyncio.Event) -> tuple[Written, list[tuple[Row, PostgresError]]]:
        try:
            return await self._with_retries(plan.rows, store, stopping), []
        except PostgresError as exc:
            if exc.retriable:
                raise
            if len(plan.rows) == 1:
                return Written(0, 0), [(plan.rows[0], exc)]
        # The batch was refused as a whole: write each lead alone to find the ones at fault.
        applied = stale = 0
        refused: list[tuple[Row, PostgresError]] = []
        for row in plan.rows:
            try:
                one = await self._with_retries([row], store, stopping)
            except PostgresError as exc:
                if exc.retriable:
                    raise
                refused.append((row, exc))
                continue
            applied, stale = applied + one.applied, stale + one.stale
        return Written(applied, stale), refused

    async def _with_retries(self, rows: list[Row], store: LeadStore, stopping: asyncio.Event) -> Written:
        applier = self._settings.applier
        delay = applier.backoff_initial_ms / 1000
        while True:
            try:
                return await store.write(rows)
            except PostgresError as exc:
                # A lost connection is left to run(), which reconnects; other transient errors
                # (deadlock, serialization) are retried here, on the same connection.
                if not exc.retriable or isinstance(exc, ConnectionLost):
                    raise
                log.warning("applier: transient database error; retrying", error=str(exc), retry_in=delay)
                if await wait_until_set(stopping, delay):
                    raise Stopped from exc
                delay = min(delay * 2, applier.backoff_max_ms / 1000)

