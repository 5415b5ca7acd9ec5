"""The sink component: a consumer-group member landing lead events at the destination.

Per partition, records are buffered and cut into micro-batches of `batch_size` records (or fewer
after `linger_ms`); at most one batch per partition is in flight, so a lead's changes land in
order, and at most `max_in_flight` across partitions. Offsets are committed only past batches
that landed or whose failures were recorded (offsets.py). `stop_at` turns it into a burst run
(a replay) that returns once every partition reached its end offset.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from contextlib import AsyncExitStack
from typing import Any

import asyncpg
from aiokafka import ConsumerRebalanceListener
from aiokafka.structs import TopicPartition

from connectors.kafka.client import Admin, Consumer, Producer
from connectors.kafka.errors import KafkaConnectorError
from connectors.postgres.errors import PostgresError
from connectors.postgrest.client import PostgrestClient
from schemas.event import now_ms
from schemas.lead import SYNC_SOURCE_HEADER, SYNC_SOURCE_LOCAL
from streamer.config import Settings
from streamer.lifecycle import run_with_restarts
from streamer.logging import get_logger
from streamer.metrics import Metrics
from streamer.sink.batch import PlanOptions, RecordLike, build_plan
from streamer.sink.deleted import RecentDeletes
from streamer.sink.failures import FailureRecorder
from streamer.sink.health import SinkHealth
from streamer.sink.lander import Abandoned, Lander
from streamer.sink.offsets import OffsetTracker
from streamer.sink.ratelimit import RateLimiter
from streamer.sink.retry import RetryPolicy
from streamer.sink.startup import checked_mapping

log = get_logger(__name__)
RETRIABLE = (PostgresError, KafkaConnectorError, OSError, asyncpg.PostgresConnectionError)
# A rebalance must finish well within the group's max.poll.interval (300 s by default).
RELEASE_SECONDS = 30.0


class SinkComponent:
    name = "sink"

    def __init__(self, settings: Settings, metrics: Metrics, *, group_id: str | None = None,
                 topic: str | None = None, stop_at: dict[TopicPartition, int] | None = None) -> None:
        self.settings, self.metrics = settings, metrics
        self.group_id = group_id or settings.sink.group_id
        self.topic = topic or settings.kafka.leads_topic
        self.stop_at = stop_at
        self.health = SinkHealth()
        self.deleted = RecentDeletes()  # kept across rebalances: see deleted.py
        self._consuming = False

    def ready(self) -> bool:
        return self._consuming and not self.health.is_blocked

    def healthy(self) -> bool:
        return not self.health.is_blocked

    async def run(self, stopping: asyncio.Event) -> None:
        await run_with_restarts("sink", lambda: self._session(stopping), stopping, retriable=RETRIABLE,
                                after=self._stopped)

    def _stopped(self) -> None:
        self._consuming = False

    async def _session(self, stopping: asyncio.Event) -> None:
        s = self.settings
        async with AsyncExitStack() as stack:
            # The header tells Gestão Scouter's tagging trigger that this write is the sync's.
            client = PostgrestClient.from_settings(s.destination, max_connections=2 * s.sink.max_in_flight,
                                                   headers={SYNC_SOURCE_HEADER: SYNC_SOURCE_LOCAL})
            stack.push_async_callback(client.aclose)
            mapping = await checked_mapping(client, s, self.health, stopping)
            if mapping is None:
                return
            pool = await asyncpg.create_pool(s.source.dsn.get_secret_value(), min_size=1, max_size=2)
            stack.push_async_callback(pool.close)
            dlq = f"{self.topic}.dlq"
            async with Admin(s.kafka) as admin:
                await admin.ensure_topic(self.topic)
                await admin.ensure_topic(dlq)
            producer = await stack.enter_async_context(Producer(s.kafka))
            loop = _Loop(self, stopping, PlanOptions.from_settings(s.sink, mapping),
                         Lander(client, s.destination.table, policy=RetryPolicy.from_settings(s.sink),
                                limiter=RateLimiter(s.sink.requests_per_second), metrics=self.metrics,
                                health=self.health, stopping=stopping, max_rows=s.sink.batch_size),
                         FailureRecorder(pool, producer, dlq, self.metrics))
            consumer = await stack.enter_async_context(
                Consumer(s.kafka, self.topic, group_id=self.group_id, listener=loop.listener,
                         max_partition_fetch_bytes=4 * 1024 * 1024))
            loop.consumer = consumer
            self._consuming = True
            log.info("sink consuming", topic=self.topic, group=self.group_id)
            await loop.run()


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loop: _Loop) -> None:
        self.loop = loop

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.loop.release(list(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        return None


class _Loop:
    """One consuming session: buffers, in-flight batches, commits."""

    def __init__(self, sink: SinkComponent, stopping: asyncio.Event, options: PlanOptions, lander: Lander,
                 recorder: FailureRecorder) -> None:
        self.sink, self.stopping, self.options = sink, stopping, options
        self.lander, self.recorder = lander, recorder
        self.consumer: Consumer | None = None
        self.listener = _Listener(self)
        s = sink.settings.sink
        self.batch_size, self.linger, self.max_in_flight = s.batch_size, s.linger_ms / 1000, s.max_in_flight
        self.buffers: dict[TopicPartition, deque[RecordLike]] = {}
        self.oldest: dict[TopicPartition, float] = {}
        self.in_flight: dict[TopicPartition, asyncio.Task[None]] = {}
        self.paused: set[TopicPartition] = set()
        self.revoking: set[TopicPartition] = set()  # being released: nothing new is dispatched
        self.turn = 0  # where the next dispatch round starts, so every partition gets its turn
        self.tracker: OffsetTracker[TopicPartition] = OffsetTracker()
        self.commit_lock = asyncio.Lock()

    @property
    def raw(self) -> Any:
        assert self.consumer is not None
        return self.consumer.raw

    async def run(self) -> None:
        assert self.consumer is not None
        try:
            while not self.stopping.is_set():
                self._reap()
                self._flow_control()
                fetched = await self.consumer.getmany(timeout_ms=self._fetch_wait_ms(),
                                                      max_records=self.batch_size * 8)
                for tp, records in fetched.items():
                    self._buffer(tp, records)
                self._dispatch()
                self._report_lag()
                if self.sink.stop_at is not None and await self._burst_done():
                    break
        except BaseException:
            # The session is failing: its batches in flight have no owner left to commit them.
            # Cancelled, they are not committed, and the next session lands them again.
            for task in self.in_flight.values():
                task.cancel()
            await asyncio.gather(*self.in_flight.values(), return_exceptions=True)
            raise
        await self._drain()

    def _fetch_wait_ms(self) -> int:
        """How long a fetch may wait: briefly while buffered work waits on a batch in flight, so a
        partition's next batch leaves as soon as its previous one landed."""
        if any(self.buffers.get(tp) for tp in self.in_flight):
            return 5
        return max(10, min(int(self.linger * 1000), 100))

    def _buffer(self, tp: TopicPartition, records: list[Any]) -> None:
        stop = self.sink.stop_at.get(tp) if self.sink.stop_at is not None else None
        if stop is not None:
            records = [r for r in records if r.offset < stop]
        if records:
            self.buffers.setdefault(tp, deque()).extend(records)
            self.oldest.setdefault(tp, time.monotonic())

    def _dispatch(self) -> None:
        if self.lander.health.is_blocked:
            return
        now = time.monotonic()
        # Round robin: with more backlogged partitions than batches in flight, starting from the
        # same partition every time would starve the last ones.
        order = list(self.buffers)
        start = self.turn % len(order) if order else 0
        for i, tp in enumerate(order[start:] + order[:start]):
            if len(self.in_flight) >= self.max_in_flight:
                break
            buffer = self.buffers[tp]
            if tp in self.in_flight or tp in self.revoking or not buffer:
                continue
            if len(buffer) < self.batch_size and now - self.oldest.get(tp, now) < self.linger:
                continue
            batch = [buffer.popleft() for _ in range(min(self.batch_size, len(buffer)))]
            if buffer:
                self.oldest[tp] = now
            else:
                self.oldest.pop(tp, None)
            self.in_flight[tp] = asyncio.create_task(self._land(tp, batch), name=f"land {tp.partition}")
            self.turn = start + i + 1
        self.sink.metrics.sink_in_flight(len(self.in_flight))

    async def _land(self, tp: TopicPartition, records: list[RecordLike]) -> None:
        span = self.tracker.dispatch(tp, records[0].offset, records[-1].offset)
        plan = build_plan(records, self.options, self.sink.deleted)
        for reason, n in plan.skipped.items():
            self.sink.metrics.sink_skipped(reason, n)
        if plan.superseded:
            self.sink.metrics.sink_skipped("superseded", plan.superseded)
        began = time.monotonic()
        landed = await self.lander.land(plan, {r.offset: r for r in records})
        await self.recorder.record(landed.failed, partition=tp.partition)
        await self.recorder.landed(landed.by_job)
        self.sink.metrics.sink_batch_landed(landed.upserts, landed.deletes, time.monotonic() - began,
                                            landed.source_ts_ms, now_ms())
        self.tracker.complete(tp, span)
        await self._commit()

    async def _commit(self) -> None:
        async with self.commit_lock:
            offsets = self.tracker.commits()
            if offsets and self.consumer is not None:
                await self.consumer.commit(offsets)
                self.tracker.mark_committed(offsets)

    def _reap(self) -> None:
        for tp, task in list(self.in_flight.items()):
            if task.done() and tp not in self.revoking:  # release() owns the batches it waits for
                del self.in_flight[tp]
                error = None if task.cancelled() else task.exception()
                if error is not None and not isinstance(error, Abandoned):
                    raise error

    def _flow_control(self) -> None:
        """Pause fetching for partitions with a full buffer, and for all while blocked.

        Compared with what the consumer says is paused, not with what we last asked: a rebalance
        gives the consumer fresh, unpaused partitions, and resuming one it no longer has fails."""
        assigned = set(self.raw.assignment())
        want = {tp for tp, b in self.buffers.items() if len(b) >= 4 * self.batch_size} & assigned
        if self.lander.health.is_blocked:
            want |= assigned
        actual = set(self.raw.paused())
        if want - actual:
            self.raw.pause(*(want - actual))
        if actual - want:
            self.raw.resume(*(actual - want))
        if want != self.paused:
            self.paused = want
            self.sink.metrics.sink_paused(len(want))

    def _report_lag(self) -> None:
        for tp in self.raw.assignment():
            highwater = self.raw.highwater(tp)
            if highwater is None:
                continue
            done = self.tracker.partitions.get(tp)
            position = done.committed if done and done.committed is not None else None
            if position is not None:
                self.sink.metrics.sink_lag(tp.partition, max(0, highwater - position))

    async def _burst_done(self) -> bool:
        """A burst run is done when each partition reached its end offset with nothing pending."""
        assert self.sink.stop_at is not None
        for tp, stop in self.sink.stop_at.items():
            offsets = self.tracker.partitions.get(tp)
            if offsets is not None and offsets.committed is not None and offsets.committed >= stop:
                continue
            if tp in self.in_flight or self.buffers.get(tp) or tp not in self.raw.assignment():
                return False
            if await self.raw.position(tp) < stop:
                return False
        return not self.in_flight

    async def release(self, partitions: list[TopicPartition]) -> None:
        """A rebalance takes partitions away: drop what is buffered for them (their next owner
        reads it again from the committed offset), let their batches in flight finish for up to
        `RELEASE_SECONDS` and abandon the rest (a batch stuck on an outage must not hold the
        whole group's rebalance), commit what landed, and forget them."""
        revoked = set(partitions)
        self.revoking |= revoked
        try:
            for tp in revoked:
                self.buffers.pop(tp, None)
                self.oldest.pop(tp, None)
            tasks = [self.in_flight[tp] for tp in revoked if tp in self.in_flight]
            if tasks:
                _, stuck = await asyncio.wait(tasks, timeout=RELEASE_SECONDS)
                for task in stuck:
                    task.cancel()
                if stuck:
                    log.warning("sink abandoned batches of revoked partitions", batches=len(stuck),
                                after_seconds=RELEASE_SECONDS)
                await asyncio.gather(*tasks, return_exceptions=True)
                for task in tasks:
                    error = None if task.cancelled() else task.exception()
                    if error is not None and not isinstance(error, Abandoned):
                        log.warning("sink batch of a revoked partition failed; its next owner lands it",
                                    error=f"{type(error).__name__}: {error}")
            await self._commit()
        except (KafkaConnectorError, OSError) as exc:
            # Not landed for sure, so not committed: the next owner lands it again.
            log.warning("sink could not commit revoked partitions", error=f"{type(exc).__name__}: {exc}")
        finally:
            for tp in revoked:
                self.in_flight.pop(tp, None)
            self.tracker.revoke(partitions)
            self.paused -= revoked
            self.revoking -= revoked

    async def _drain(self) -> None:
        """Stopping: let in-flight batches finish (a batch stuck on an outage is abandoned)."""
        if self.in_flight:
            log.info("sink draining", batches=len(self.in_flight))
            outcomes = await asyncio.gather(*self.in_flight.values(), return_exceptions=True)
            self.in_flight.clear()
            for error in outcomes:
                if isinstance(error, BaseException) and not isinstance(error, Abandoned | asyncio.CancelledError):
                    log.warning("sink batch failed while draining; left uncommitted",
                                error=f"{type(error).__name__}: {error}")
        await self._commit()


async def land_burst(settings: Settings, metrics: Metrics, *, group_id: str, topic: str,
                     stop_at: dict[TopicPartition, int], stopping: asyncio.Event) -> None:
    """Land the events between the group's committed offsets and `stop_at` in burst mode, then
    return: what a replay job runs (history/replay.py `LandBurst`, wired in cli/components.py)."""
    sink = SinkComponent(settings, metrics, group_id=group_id, topic=topic, stop_at=stop_at)
    await sink.run(stopping)
