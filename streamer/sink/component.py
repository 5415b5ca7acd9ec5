"""The sink component: a consumer-group member landing lead events at the destination.

Per partition, records are buffered in offset order and cut into micro-batches of up to
`batch_size` records. Key-ordered concurrency (order.py): batches of one partition whose lead ids
are disjoint are in flight together; a record whose lead is in a batch in flight waits for it, so
a lead's changes land in order. How many batches are in flight across partitions adapts to the
destination (concurrency.py: AIMD on 429/503/timeouts, up to `max_in_flight`). The linger adapts:
a batch that is not full leaves at once unless a partial batch of its partition is in flight
(then it fills for up to `linger_ms`), so a lone change is sent at once and batches fill under
load. Offsets are committed only up to the lowest unfinished record of each partition
(offsets.py). `stop_at` turns it into a burst run (a replay) that returns once every partition
reached its end offset. A new field mapping installed while it runs (mapping_watch.py) ends the
session after a drain, and the next one uses it. Every LAG_REFRESH_SECONDS it also reads the
topic's replication from the cluster's metadata (`streamer_kafka_under_replicated_partitions`,
docs/cluster.md).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from contextlib import AsyncExitStack
from typing import Any

import asyncpg
from aiokafka import ConsumerRebalanceListener
from aiokafka.errors import KafkaError
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
from streamer.sink.concurrency import Window
from streamer.sink.deleted import RecentDeletes
from streamer.sink.failures import FailureRecorder
from streamer.sink.health import SinkHealth
from streamer.sink.lander import Abandoned, Lander
from streamer.sink.mapping_watch import MappingWatch
from streamer.sink.offsets import OffsetTracker
from streamer.sink.order import select
from streamer.sink.ratelimit import RateLimiter
from streamer.sink.retry import RetryPolicy
from streamer.sink.startup import checked_mapping

log = get_logger(__name__)
RETRIABLE = (PostgresError, KafkaConnectorError, OSError, asyncpg.PostgresConnectionError)
# A rebalance must finish well within the group's max.poll.interval (300 s by default).
RELEASE_SECONDS = 30.0
LAG_REFRESH_SECONDS = 5.0  # how often the broker is asked for the partitions' ends (_refresh_ends)
INITIAL_IN_FLIGHT = 4  # the window's start; it grows from there as batches land (concurrency.py)
# What the consumer may hold fetched and not yet handed over: at most a quarter MiB per partition
# and one MiB per fetch (aiokafka's defaults are 1 MiB and 50 MiB). A partition's 256 KiB is ≈ 160
# leads, over three of our batches, and the next fetch is asked for as soon as those are taken,
# so a backlog drains as fast; while the sink is slower than the topic (always, on a backlog),
# the fetched-but-unread records stay this small instead of growing with the backlog (with 4 MiB
# per partition, the sink's RSS grew 88 → 112 MB from 5,000 to 45,000 leads; README, Performance).
FETCH_PARTITION_BYTES = 256 * 1024
FETCH_MAX_BYTES = 1024 * 1024


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
        self._reload = False  # the session ended to take up a new field mapping
        self.watch = MappingWatch(None)

    def ready(self) -> bool:
        """Consuming, not blocked, and neither retrying the destination nor waiting for one of its
        answers for longer than `sink.unready_after_seconds` (/readyz; /healthz stays the
        liveness check)."""
        unready_after = self.settings.sink.unready_after_seconds
        return (self._consuming and not self.health.is_blocked
                and not self.health.degraded_longer_than(unready_after)
                and not self.health.waiting_longer_than(unready_after))

    def healthy(self) -> bool:
        return not self.health.is_blocked

    async def run(self, stopping: asyncio.Event) -> None:
        while True:
            self._reload = False
            await run_with_restarts("sink", lambda: self._session(stopping), stopping, retriable=RETRIABLE,
                                    after=self._stopped)
            if not self._reload or stopping.is_set():
                return
            log.info("sink: field mapping file changed; consuming again with it", file=str(self.watch.path))

    def _stopped(self) -> None:
        self._consuming = False

    async def _session(self, stopping: asyncio.Event) -> None:
        s = self.settings
        async with AsyncExitStack() as stack:
            # The header tells Gestão Scouter's tagging trigger that this write is the sync's.
            client = PostgrestClient.from_settings(s.destination, max_connections=2 * s.sink.max_in_flight,
                                                   headers={SYNC_SOURCE_HEADER: SYNC_SOURCE_LOCAL})
            stack.push_async_callback(client.aclose)
            # Stamped before the file is read: a mapping installed meanwhile is noticed, not lost.
            self.watch = MappingWatch(s.sink.mapping_file if self.stop_at is None else None)
            mapping = await checked_mapping(client, s, self.health, stopping)
            if mapping is None:
                return
            pool = await asyncpg.create_pool(s.source.dsn.get_secret_value(), min_size=1, max_size=2)
            stack.push_async_callback(pool.close)
            dlq = f"{self.topic}.dlq"
            # Kept open: it also reads the topic's replication every LAG_REFRESH_SECONDS.
            admin = await stack.enter_async_context(Admin(s.kafka))
            await admin.ensure_topic(self.topic)
            await admin.ensure_topic(dlq)
            await admin.track([self.topic])
            producer = await stack.enter_async_context(Producer(s.kafka))
            await producer.track([dlq])
            loop = _Loop(self, stopping, PlanOptions.from_settings(s.sink, mapping),
                         Lander(client, s.destination.table, policy=RetryPolicy.from_settings(s.sink),
                                limiter=RateLimiter(s.sink.requests_per_second), metrics=self.metrics,
                                health=self.health, stopping=stopping, max_rows=s.sink.batch_size),
                         FailureRecorder(pool, producer, dlq, self.metrics), self.watch)
            loop.lander.on_congestion = loop.congested
            consumer = await stack.enter_async_context(
                Consumer(s.kafka, self.topic, group_id=self.group_id, listener=loop.listener,
                         max_partition_fetch_bytes=FETCH_PARTITION_BYTES, fetch_max_bytes=FETCH_MAX_BYTES))
            loop.consumer, loop.admin = consumer, admin
            self._consuming = True
            log.info("sink consuming", topic=self.topic, group=self.group_id)
            await loop.run()
            self._reload = loop.reload


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
                 recorder: FailureRecorder, watch: MappingWatch | None = None) -> None:
        self.sink, self.stopping, self.options = sink, stopping, options
        self.watch = watch or MappingWatch(None)
        self.reload = False  # ended to take up a new field mapping
        self.lander, self.recorder = lander, recorder
        self.consumer: Consumer | None = None
        self.admin: Admin | None = None
        self.listener = _Listener(self)
        s = sink.settings.sink
        self.batch_size, self.linger = s.batch_size, s.linger_ms / 1000
        self.window = Window(maximum=s.max_in_flight, initial=min(INITIAL_IN_FLIGHT, s.max_in_flight))
        self.buffers: dict[TopicPartition, deque[RecordLike]] = {}
        self.oldest: dict[TopicPartition, float] = {}
        self.in_flight: dict[TopicPartition, set[asyncio.Task[None]]] = {}
        self.busy: dict[TopicPartition, set[bytes | None]] = {}  # keys of the batches in flight
        self.partial: dict[TopicPartition, int] = {}  # batches in flight that were not full
        self.paused: set[TopicPartition] = set()
        self.revoking: set[TopicPartition] = set()  # being released: nothing new is dispatched
        self.turn = 0  # where the next dispatch round starts, so every partition gets its turn
        self.tracker: OffsetTracker[TopicPartition] = OffsetTracker()
        self.commit_lock = asyncio.Lock()
        # The partitions' ends as the broker last said (ListOffsets), asked every LAG_REFRESH_SECONDS:
        # a paused partition fetches nothing, so the fetch responses' high-water marks stop moving
        # during an outage, and the lag gauge would freeze exactly when it matters.
        self.ends: dict[TopicPartition, int] = {}
        self.ends_asked = time.monotonic()

    @property
    def raw(self) -> Any:
        assert self.consumer is not None
        return self.consumer.raw

    def congested(self) -> None:
        """The destination answered 429/503 or timed out: fewer batches in flight for a while."""
        self.window.congested(time.monotonic())

    def _tasks(self) -> list[asyncio.Task[None]]:
        return [task for tasks in self.in_flight.values() for task in tasks]

    def _flying(self) -> int:
        return sum(len(tasks) for tasks in self.in_flight.values())

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
                self._reap()
                self._dispatch()
                await self._refresh_ends()
                self._report_lag()
                if self.sink.stop_at is not None and await self._burst_done():
                    break
                if self.watch.changed():  # drained below, then the next session reads it
                    self.reload = True
                    break
        except BaseException:
            # The session is failing: its batches in flight have no owner left to commit them.
            # Cancelled, they are not committed, and the next session lands them again.
            tasks = self._tasks()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        await self._drain()

    def _fetch_wait_ms(self) -> int:
        """How long a fetch may wait: briefly while buffered records wait for a batch in flight
        (a free slot, or their lead's earlier change), so they leave as soon as it landed."""
        if self.in_flight and any(self.buffers.values()):
            return 5
        return max(10, min(int(self.linger * 1000), 100))

    def _buffer(self, tp: TopicPartition, records: list[Any]) -> None:
        if tp in self.revoking:
            return
        stop = self.sink.stop_at.get(tp) if self.sink.stop_at is not None else None
        if stop is not None:
            records = [r for r in records if r.offset < stop]
        if records:
            self.tracker.received(tp, [r.offset for r in records])
            self.buffers.setdefault(tp, deque()).extend(records)
            self.oldest.setdefault(tp, time.monotonic())

    def _dispatch(self) -> None:
        """Cut batches while the window has room: round robin over the partitions, one batch per
        partition per round, so a backlogged partition cannot starve the others."""
        if self.lander.health.is_blocked:
            return
        order = [tp for tp, buffer in self.buffers.items() if buffer and tp not in self.revoking]
        flying, limit = self._flying(), self.window.limit
        if order and flying < limit:
            now = time.monotonic()
            start = self.turn % len(order)
            order = order[start:] + order[:start]
            while order and flying < limit:
                waiting = []
                for i, tp in enumerate(order):
                    if flying >= limit:
                        break
                    if self._cut(tp, now):
                        flying += 1
                        self.turn = start + i + 1
                        waiting.append(tp)
                order = [tp for tp in waiting if self.buffers.get(tp)]
        self.sink.metrics.sink_in_flight(flying)

    def _cut(self, tp: TopicPartition, now: float) -> bool:
        """Send the partition's next batch if one may leave now (order.py): the records whose lead
        has no change in flight, up to `batch_size`. A batch that is not full leaves at once, unless
        a partial batch of the partition is in flight: then it waits to fill, for that batch to
        land, or for `linger_ms` (the adaptive linger)."""
        buffer = self.buffers[tp]
        partial_in_flight = self.partial.get(tp, 0) > 0
        lingering = partial_in_flight and now - self.oldest.get(tp, now) < self.linger
        if lingering and len(buffer) < self.batch_size:
            return False
        busy = self.busy.setdefault(tp, set())
        taken, kept = select(buffer, busy, self.batch_size)
        partial = len(taken) < self.batch_size
        if not taken or (partial and lingering):
            return False
        if kept:
            self.buffers[tp] = deque(kept)
            self.oldest[tp] = now
        else:
            buffer.clear()
            self.oldest.pop(tp, None)
        keys = {r.key for r in taken}
        busy |= keys
        if partial:
            self.partial[tp] = self.partial.get(tp, 0) + 1
        task = asyncio.create_task(self._land(tp, taken, keys, partial), name=f"land {tp.partition}")
        self.in_flight.setdefault(tp, set()).add(task)
        return True

    async def _land(self, tp: TopicPartition, records: list[RecordLike], keys: set[bytes | None],
                    partial: bool) -> None:
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
        # Only now may the leads' later changes leave (a batch that failed keeps them waiting).
        if tp in self.tracker.partitions:
            self.tracker.finish(tp, [r.offset for r in records])
        if (busy := self.busy.get(tp)) is not None:
            busy -= keys
        if partial and tp in self.partial:
            self.partial[tp] -= 1
        self.window.landed()
        await self._commit()

    async def _commit(self) -> None:
        async with self.commit_lock:
            offsets = self.tracker.commits()
            if offsets and self.consumer is not None:
                await self.consumer.commit(offsets)
                self.tracker.mark_committed(offsets)

    def _reap(self) -> None:
        for tp, tasks in list(self.in_flight.items()):
            if tp in self.revoking:  # release() owns the batches it waits for
                continue
            for task in [t for t in tasks if t.done()]:
                tasks.discard(task)
                error = None if task.cancelled() else task.exception()
                if error is not None and not isinstance(error, Abandoned):
                    raise error
            if not tasks:
                del self.in_flight[tp]

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

    async def _refresh_ends(self) -> None:
        """Ask the broker for the assigned partitions' end offsets, at most every LAG_REFRESH_SECONDS."""
        if time.monotonic() - self.ends_asked < LAG_REFRESH_SECONDS:
            return
        self.ends_asked = time.monotonic()
        await self._report_replication()
        assigned = list(self.raw.assignment())
        if not assigned:
            return
        try:
            ends = await asyncio.wait_for(self.raw.end_offsets(assigned), 10.0)
        except (KafkaError, TimeoutError) as exc:  # the next round asks again; fetches still report
            log.debug("end offsets not read", error=str(exc))
            return
        self.ends.update({tp: end for tp, end in ends.items() if end is not None})

    async def _report_replication(self) -> None:
        """streamer_kafka_under_replicated_partitions for the topic, from the cluster's metadata."""
        if self.admin is None:
            return
        topic = self.sink.topic
        try:
            under = await asyncio.wait_for(self.admin.under_replicated([topic]), 10.0)
        except (KafkaConnectorError, TimeoutError) as exc:  # asked again next round
            log.debug("replication not read", error=str(exc))
            return
        if topic in under:
            self.sink.metrics.kafka_under_replicated(topic, under[topic])

    def _report_lag(self) -> None:
        """Lag = the partition's end (the newer of the fetch's high-water mark and the broker's
        answer) minus what this group committed: it grows while the destination is down."""
        for tp in self.raw.assignment():
            ends = [end for end in (self.raw.highwater(tp), self.ends.get(tp)) if end is not None]
            done = self.tracker.partitions.get(tp)
            position = done.committed if done and done.committed is not None else None
            if ends and position is not None:
                self.sink.metrics.sink_lag(tp.partition, max(0, max(ends) - position))

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
            tasks = [task for tp in revoked for task in self.in_flight.get(tp, ())]
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
                self.busy.pop(tp, None)
                self.partial.pop(tp, None)
            self.tracker.revoke(partitions)
            self.paused -= revoked
            self.revoking -= revoked

    async def _drain(self) -> None:
        """Stopping: let in-flight batches finish (a batch stuck on an outage is abandoned)."""
        if self.in_flight:
            tasks = self._tasks()
            log.info("sink draining", batches=len(tasks))
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
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
