"""The sink's consume loop around rebalances, stuck batches and backlog (component._Loop).

The consumer here is a stand-in for our `Consumer` with the aiokafka behaviour the loop relies
on: a rebalance gives fresh, unpaused partitions, and resuming a partition not assigned fails.
The real consumer, broker and destination are exercised by test_sink_pipeline.py."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Iterable
from typing import Any

import pytest
from aiokafka.errors import IllegalStateError
from aiokafka.structs import TopicPartition

from streamer.metrics import Metrics
from streamer.sink import component
from streamer.sink.batch import ConsumedRecord, PlanOptions
from streamer.sink.component import _Loop
from streamer.sink.deleted import RecentDeletes
from streamer.sink.health import SinkHealth
from streamer.sink.lander import Landed
from tests.wait import until

P, Q = TopicPartition("leads", 0), TopicPartition("leads", 1)


class Raw:
    def __init__(self, assigned: Iterable[TopicPartition]) -> None:
        self.assigned, self.paused_now = set(assigned), set[TopicPartition]()

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def reassign(self, assigned: Iterable[TopicPartition]) -> None:
        self.assigned, self.paused_now = set(assigned), set()

    def paused(self) -> set[TopicPartition]:
        return set(self.paused_now)

    def pause(self, *tps: TopicPartition) -> None:
        self.paused_now |= set(tps)

    def resume(self, *tps: TopicPartition) -> None:
        if set(tps) - self.assigned:
            raise IllegalStateError(f"no current assignment for {set(tps) - self.assigned}")
        self.paused_now -= set(tps)

    def highwater(self, tp: TopicPartition) -> None:
        return None


class Consumer:
    def __init__(self, assigned: Iterable[TopicPartition]) -> None:
        self.raw = Raw(assigned)
        self.fetches: list[dict[TopicPartition, list[ConsumedRecord]]] = []
        self.commits: list[dict[TopicPartition, int]] = []

    async def getmany(self, timeout_ms: int, max_records: int | None = None) -> dict[Any, Any]:
        if self.fetches:
            return self.fetches.pop(0)
        await asyncio.sleep(timeout_ms / 1000)
        return {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    def committed(self, tp: TopicPartition) -> int | None:
        return max((c[tp] for c in self.commits if tp in c), default=None)


class Lander:
    def __init__(self, seconds: float = 0.05) -> None:
        self.health, self.seconds, self.landed = SinkHealth(), seconds, list[tuple[int, int, int]]()

    async def land(self, plan: Any, records: Any) -> Landed:
        await asyncio.sleep(self.seconds)
        self.landed.append((plan.partition, plan.first_offset, plan.last_offset))
        return Landed()


class Recorder:
    async def record(self, failed: Any, *, partition: int) -> None: ...
    async def landed(self, by_job: Any) -> None: ...


def consume_loop(assigned: Iterable[TopicPartition], *, lander: Lander | None = None,
                 max_in_flight: int = 4) -> tuple[_Loop, Consumer, asyncio.Event]:
    sink = types.SimpleNamespace(
        settings=types.SimpleNamespace(sink=types.SimpleNamespace(batch_size=50, linger_ms=0,
                                                                   max_in_flight=max_in_flight)),
        metrics=Metrics(), deleted=RecentDeletes(), stop_at=None)
    stopping = asyncio.Event()
    loop = _Loop(sink, stopping, PlanOptions(), lander or Lander(), Recorder())  # type: ignore[arg-type]
    consumer = Consumer(assigned)
    loop.consumer = consumer  # type: ignore[assignment]
    return loop, consumer, stopping


def records(tp: TopicPartition, first: int, n: int) -> list[ConsumedRecord]:
    return [ConsumedRecord(tp.topic, tp.partition, o, None, None) for o in range(first, first + n)]


async def test_a_revoked_partition_gets_no_new_batch_while_its_last_one_finishes() -> None:
    """Rebalance with one batch in flight and two buffered: the batch in flight lands and is
    committed; the buffered records are left to the next owner, and nothing is dispatched for
    the partition meanwhile."""
    loop, consumer, stopping = consume_loop([P], lander=Lander(seconds=0.2))
    consumer.fetches.append({P: records(P, 0, 150)})
    running = asyncio.create_task(loop.run())
    await until(lambda: list(loop.in_flight) == [P])
    await loop.release([P])
    consumer.raw.reassign([])
    await until(lambda: consumer.committed(P) == 50)
    stopping.set()
    await running
    assert loop.lander.landed == [(0, 0, 49)]  # type: ignore[attr-defined]
    assert consumer.committed(P) == 50
    assert P not in loop.buffers and P not in loop.in_flight


async def test_a_batch_stuck_on_an_outage_is_abandoned_when_its_partition_is_revoked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch that cannot land must not hold the group's rebalance: after RELEASE_SECONDS it is
    abandoned, uncommitted, for the next owner to land."""
    monkeypatch.setattr(component, "RELEASE_SECONDS", 0.1)
    loop, consumer, stopping = consume_loop([P], lander=Lander(seconds=3600))
    consumer.fetches.append({P: records(P, 0, 50)})
    running = asyncio.create_task(loop.run())
    await until(lambda: P in loop.in_flight)
    await asyncio.wait_for(loop.release([P]), 2)
    stopping.set()
    await running
    assert consumer.committed(P) is None
    assert loop.in_flight == {} and P not in loop.tracker.partitions


async def test_pauses_follow_the_consumer_across_a_rebalance() -> None:
    """Blocked, every partition is paused; after a rebalance that takes P away and gives fresh
    partition state, nothing is resumed that is not assigned, and Q is paused again."""
    loop, consumer, _ = consume_loop([P, Q])
    loop.lander.health.blocked("auth", "401")
    loop._flow_control()
    assert consumer.raw.paused() == {P, Q}
    await loop.release([P, Q])
    consumer.raw.reassign([Q])
    loop._flow_control()
    assert consumer.raw.paused() == {Q} and loop.paused == {Q}


async def test_a_full_buffer_of_a_partition_that_comes_back_is_paused_again() -> None:
    """Paused for a full buffer, revoked and assigned again: the consumer's fresh state is not
    paused, so the loop pauses it again instead of believing it still is."""
    loop, consumer, _ = consume_loop([P])
    loop._buffer(P, records(P, 0, 200))
    loop._flow_control()
    await loop.release([P])
    consumer.raw.reassign([P])
    loop._buffer(P, records(P, 0, 400))
    loop._flow_control()
    assert consumer.raw.paused() == {P}


async def test_every_backlogged_partition_gets_its_turn() -> None:
    """Eight backlogged partitions, four batches in flight at most: all eight make progress."""
    tps = [TopicPartition("leads", i) for i in range(8)]
    loop, consumer, stopping = consume_loop(tps, lander=Lander(seconds=0.02), max_in_flight=4)
    following = dict.fromkeys(tps, 0)

    async def backlog(timeout_ms: int, max_records: int | None = None) -> dict[Any, Any]:
        await asyncio.sleep(0.005)
        fetched = {}
        for tp in tps:
            if len(loop.buffers.get(tp, ())) < 100:
                fetched[tp] = records(tp, following[tp], 50)
                following[tp] += 50
        return fetched

    consumer.getmany = backlog  # type: ignore[method-assign]
    running = asyncio.create_task(loop.run())
    await until(lambda: all(consumer.committed(tp) for tp in tps))
    stopping.set()
    await running


async def test_a_failing_session_cancels_its_batches_and_commits_nothing_more() -> None:
    """When fetching fails, the batches in flight are cancelled (their owner is gone) and the
    error leaves the loop, for the component to start a new session."""
    loop, consumer, _ = consume_loop([P], lander=Lander(seconds=3600))
    consumer.fetches.append({P: records(P, 0, 50)})
    real_getmany = consumer.getmany

    async def failing(timeout_ms: int, max_records: int | None = None) -> dict[Any, Any]:
        if loop.in_flight:
            raise OSError("broker connection lost")
        return await real_getmany(timeout_ms, max_records)

    consumer.getmany = failing  # type: ignore[method-assign]
    with pytest.raises(OSError, match="broker connection lost"):
        await asyncio.wait_for(loop.run(), 5)
    assert all(task.cancelled() for task in loop.in_flight.values()) and loop.in_flight
    assert consumer.commits == []
