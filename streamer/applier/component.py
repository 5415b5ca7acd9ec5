"""The applier Component: consume the reverse topic, write each batch in one transaction, then
commit the batch's offsets (docs/design.md, Delivery: the position moves only after the write).

Failures (docs/design.md, Failure): a transient database error is retried with backoff and never
skipped; a lost connection or an unreachable Kafka restarts the consumer and the connection
(uncommitted events come again: harmless, the upsert is idempotent); an event that can never be
applied (undecodable, invalid, refused by the database on its own: `RowRejected`, or a partial
update of a lead TabuladorMax does not have: `missing_lead`, see plan.py) is counted, logged by
reason and sent to `<topic>.dlq`, and the rest go on. A privilege, login or schema
error blocks the applier instead (blocked.py): nothing filed, nothing committed, `/healthz` and
`/readyz` say so, and the same batch is tried again until it goes through. (A block longer than
the consumer's poll interval costs the group membership; the commit after it then fails and the
batch comes again, which the idempotent upsert makes harmless.)

The connection pins `TimeZone=UTC` (connectors/postgres/slot.py, SESSION_SETTINGS), so a
timestamp without an offset is read as UTC, as the webhook and `drop_superseded` order it, not
in whatever zone the server is set to.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any

import orjson

from connectors.kafka.client import Admin, Consumer, Producer
from connectors.kafka.errors import KafkaConnectorError
from connectors.postgres.errors import ConnectionLost, PostgresError, RowRejected
from connectors.postgres.slot import connect, quote_ident
from schemas.mapping import FieldMapping
from streamer.applier.blocked import RECHECK_SECONDS, Blocked, is_blocking
from streamer.applier.plan import Plan, Row, plan_batch
from streamer.applier.store import LeadStore, Written
from streamer.config import Settings
from streamer.lifecycle import wait_until_set
from streamer.logging import get_logger
from streamer.metrics import Metrics

log = get_logger(__name__)
MISSING_LEAD = ("a partial update of a lead TabuladorMax does not have (deleted there?): not applied, as it "
                "would have created a lead holding only the columns sent")


class Stopped(Exception):
    """Asked to stop while a batch was still unwritten: leave without committing it."""


class ReverseApplier:
    """`streamer run` component "applier"."""

    name = "applier"

    def __init__(self, settings: Settings, metrics: Metrics, *, mapping: FieldMapping | None = None,
                 recheck_seconds: float = RECHECK_SECONDS) -> None:
        self._settings, self._metrics = settings, metrics
        self._topic = settings.kafka.reverse_topic
        self._dead_letter_topic = f"{self._topic}.dlq"
        self._inverse = (mapping or settings.sink.field_mapping()).inverse()
        self._table = f"{quote_ident(settings.source.schema_name)}.{quote_ident(settings.source.table)}"
        self._blocked = Blocked(self._table)
        self._recheck = recheck_seconds
        self._ready = False

    def ready(self) -> bool:
        return self._ready and not self._blocked.is_blocked

    def healthy(self) -> bool:
        """False while blocked on a privilege, login or schema error (a human has to act)."""
        return not self._blocked.is_blocked

    async def run(self, stopping: asyncio.Event) -> None:
        delay = self._settings.applier.backoff_initial_ms / 1000
        while not stopping.is_set():
            try:
                await self._session(stopping)
                return
            except Stopped:
                return
            except (KafkaConnectorError, PostgresError) as exc:
                self._ready = False
                if isinstance(exc, PostgresError) and is_blocking(exc):
                    # Raised while connecting (writes wait out their own): the login refused,
                    # the database missing... a human fixes it while we retry, as for a batch.
                    self._blocked.block(exc, "connect")
                    await wait_until_set(stopping, self._recheck)
                    continue
                if not exc.retriable:
                    raise
                log.warning("applier: connection lost; reconnecting", error=str(exc), retry_in=delay)
                await wait_until_set(stopping, delay)
                delay = min(delay * 2, self._settings.applier.backoff_max_ms / 1000)

    async def _session(self, stopping: asyncio.Event) -> None:
        settings = self._settings
        async with Admin(settings.kafka) as admin:  # the broker may not create topics on first use
            for topic in (self._topic, self._dead_letter_topic):
                await admin.ensure_topic(topic)
        async with AsyncExitStack() as stack:
            conn = await stack.enter_async_context(
                connect(settings.source.dsn.get_secret_value(), setting="STREAMER_SOURCE__DSN"))
            if self._blocked.during == "connect":
                self._blocked.clear()
            consumer = await stack.enter_async_context(
                Consumer(settings.kafka, self._topic, group_id=settings.applier.group_id))
            dead_letters = await stack.enter_async_context(
                Producer(settings.kafka, topics=(self._dead_letter_topic,)))
            self._ready = True
            log.info("applier: consuming", topic=self._topic, group=settings.applier.group_id)
            await self._loop(consumer, LeadStore(conn, self._table), dead_letters, stopping)

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
        """Write one polled batch; poison goes to the dead-letter topic. Returns what was written.

        Raises Stopped when asked to stop before the batch could be written (blocked, or
        retrying): the caller then leaves without committing it."""
        started = time.perf_counter()
        plan = plan_batch([r.value for r in records], self._inverse, headers=[r.headers for r in records])
        written, refused = await self._write(plan, store, stopping)
        dlq = self._dead_letter_topic
        for position, exc in plan.skipped:
            record = records[position]
            self._metrics.applier_rejected(exc.reason)
            if exc.reason == "tombstone":
                continue  # a delete's tombstone (debezium event format): nothing to apply or file
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
        for row in written.missing:
            # Never a half lead: the update waits in the dead letter, under TabuladorMax's names.
            self._metrics.applier_rejected("missing_lead")
            log.warning("applier: lead not in TabuladorMax; partial update not applied", lead_id=row["id"],
                        columns=len(row), reason=MISSING_LEAD)
            await dead_letters.send(dlq, orjson.dumps(row), key=str(row["id"]).encode(),
                                    headers=[("error", b"missing_lead"), ("detail", MISSING_LEAD.encode())])
        self._metrics.applier_batch(written.applied, written.stale + plan.superseded, time.perf_counter() - started)
        return written

    async def _write(self, plan: Plan, store: LeadStore,
                     stopping: asyncio.Event) -> tuple[Written, list[tuple[Row, RowRejected]]]:
        try:
            return await self._until_unblocked(plan.rows, plan.update_only, store, stopping), []
        except RowRejected as exc:
            if len(plan.rows) == 1:
                return Written(0, 0), [(plan.rows[0], exc)]
        # One lead's values were refused: write each lead alone (in order, so a lead's versions
        # still apply one after the other) to find the ones at fault.
        applied = stale = 0
        missing: list[Row] = []
        refused: list[tuple[Row, RowRejected]] = []
        for row, update_only in zip(plan.rows, plan.update_only or [False] * len(plan.rows), strict=True):
            try:
                one = await self._until_unblocked([row], [update_only], store, stopping)
            except RowRejected as exc:
                refused.append((row, exc))
                continue
            applied, stale, missing = applied + one.applied, stale + one.stale, missing + list(one.missing)
        return Written(applied, stale, tuple(missing)), refused

    async def _until_unblocked(self, rows: list[Row], update_only: list[bool], store: LeadStore,
                               stopping: asyncio.Event) -> Written:
        """Write `rows`, waiting out a blocking error (blocked.py) for as long as it lasts."""
        while True:
            try:
                written = await self._with_retries(rows, update_only, store, stopping)
            except PostgresError as exc:
                if not is_blocking(exc):
                    raise
                self._blocked.block(exc, "write")
                if await wait_until_set(stopping, self._recheck):
                    raise Stopped from exc
                continue
            self._blocked.clear()
            return written

    async def _with_retries(self, rows: list[Row], update_only: list[bool], store: LeadStore,
                            stopping: asyncio.Event) -> Written:
        applier = self._settings.applier
        delay = applier.backoff_initial_ms / 1000
        while True:
            try:
                return await store.write(rows, update_only)
            except PostgresError as exc:
                # A lost connection is left to run(), which reconnects; other transient errors
                # (deadlock, serialization) are retried here, on the same connection.
                if not exc.retriable or isinstance(exc, ConnectionLost):
                    raise
                log.warning("applier: transient database error; retrying", error=str(exc), retry_in=delay)
                if await wait_until_set(stopping, delay):
                    raise Stopped from exc
                delay = min(delay * 2, applier.backoff_max_ms / 1000)
