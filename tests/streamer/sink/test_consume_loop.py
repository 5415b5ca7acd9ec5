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

    ends: dict[TopicPartition, int] = {}  # what the broker answers to ListOffsets

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.ends[tp] for tp in tps if tp in self.ends}


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


def consume_loop(assigned: Iterable[TopicPartition], *, lander: Any = None, max_in_flight: int = 4,
                 linger_ms: int = 0) -> tuple[_Loop, Consumer, asyncio.Event]:
    sink = types.SimpleNamespace(
        settings=types.SimpleNamespace(sink=types.SimpleNamespace(batch_size=50, linger_ms=linger_ms,
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
    assert all(task.cancelled() for tasks in loop.in_flight.values() for task in tasks) and loop.in_flight
    assert consumer.commits == []


class GatedLander:
    """A destination that holds every batch until the test lets it land, and logs what landed."""

    def __init__(self) -> None:
        self.health = SinkHealth()
        self.waiting: dict[tuple[int, ...], asyncio.Event] = {}  # the batches in flight, by offsets
        self.landed: list[tuple[int, ...]] = []
        self.open = False  # once True, every batch lands without waiting

    async def land(self, plan: Any, records: Any) -> Landed:
        offsets = tuple(sorted(records))
        self.waiting[offsets] = gate = asyncio.Event()
        if not self.open:
            await gate.wait()
        del self.waiting[offsets]
        self.landed.append(offsets)
        return Landed()

    def release(self, offsets: tuple[int, ...]) -> None:
        self.waiting[offsets].set()

    def open_all(self) -> None:
        self.open = True
        for gate in self.waiting.values():
            gate.set()


def changes(tp: TopicPartition, *pairs: tuple[int, int]) -> list[ConsumedRecord]:
    """Records of `tp` as (offset, lead id) pairs, keyed by the lead id as the capture keys them."""
    return [ConsumedRecord(tp.topic, tp.partition, o, str(lead).encode(), None) for o, lead in pairs]


async def test_batches_of_disjoint_leads_of_one_partition_are_in_flight_together() -> None:
    """Leads 1 and 2 in flight, then leads 3 and 4 arrive on the same partition: they leave at
    once as a second batch, both batches in flight together."""
    lander = GatedLander()
    loop, consumer, stopping = consume_loop([P], lander=lander)
    consumer.fetches.append({P: changes(P, (0, 1), (1, 2))})
    running = asyncio.create_task(loop.run())
    await until(lambda: list(lander.waiting) == [(0, 1)])
    consumer.fetches.append({P: changes(P, (2, 3), (3, 4))})
    await until(lambda: set(lander.waiting) == {(0, 1), (2, 3)})
    assert len(loop.in_flight[P]) == 2
    lander.release((2, 3))
    lander.release((0, 1))
    await until(lambda: consumer.committed(P) == 4)
    stopping.set()
    await running


async def test_a_lead_s_later_change_waits_for_its_earlier_one_and_commits_wait_too() -> None:
    """Lead 1 is in flight when its next change arrives with lead 3's: lead 3 goes ahead and lands
    first, but the commit stays below lead 1's unfinished change; lead 1's second change leaves
    only once its first landed."""
    lander = GatedLander()
    loop, consumer, stopping = consume_loop([P], lander=lander)
    consumer.fetches.append({P: changes(P, (0, 1), (1, 2))})
    running = asyncio.create_task(loop.run())
    await until(lambda: list(lander.waiting) == [(0, 1)])
    consumer.fetches.append({P: changes(P, (2, 1), (3, 3))})
    await until(lambda: set(lander.waiting) == {(0, 1), (3,)})
    lander.release((3,))
    await until(lambda: lander.landed == [(3,)])
    assert list(lander.waiting) == [(0, 1)]  # lead 1's second change (offset 2) is still held back
    assert consumer.committed(P) is None  # offset 0 is unfinished, so nothing can be committed
    lander.release((0, 1))
    await until(lambda: consumer.committed(P) == 2 and list(lander.waiting) == [(2,)])
    lander.release((2,))
    await until(lambda: consumer.committed(P) == 4)
    stopping.set()
    await running
    assert lander.landed == [(3,), (0, 1), (2,)]


async def test_a_lone_change_leaves_at_once_despite_a_long_linger() -> None:
    """With nothing in flight, a partial batch does not wait for `linger_ms`."""
    lander = GatedLander()
    loop, consumer, stopping = consume_loop([P], lander=lander, linger_ms=3_600_000)
    consumer.fetches.append({P: changes(P, (0, 1))})
    running = asyncio.create_task(loop.run())
    await until(lambda: list(lander.waiting) == [(0,)])
    lander.release((0,))
    await until(lambda: consumer.committed(P) == 1)
    stopping.set()
    await running


async def test_while_a_partial_batch_is_in_flight_the_next_changes_gather_into_one_batch() -> None:
    """Nagle-like linger: changes arriving while a partial batch of their partition is in flight
    wait for it to land, then leave together as one batch instead of one request each."""
    lander = GatedLander()
    loop, consumer, stopping = consume_loop([P], lander=lander, linger_ms=3_600_000)
    consumer.fetches.append({P: changes(P, (0, 1))})
    running = asyncio.create_task(loop.run())
    await until(lambda: list(lander.waiting) == [(0,)])
    consumer.fetches += [{P: changes(P, (1, 2))}, {P: changes(P, (2, 3))}, {P: changes(P, (3, 4))}]
    await until(lambda: len(loop.buffers[P]) == 3)
    assert list(lander.waiting) == [(0,)]
    lander.release((0,))
    await until(lambda: list(lander.waiting) == [(1, 2, 3)])
    lander.release((1, 2, 3))
    await until(lambda: consumer.committed(P) == 4)
    stopping.set()
    await running


async def test_when_every_slot_is_busy_records_accumulate_into_full_batches() -> None:
    """One batch in flight at most: the 120 changes arriving meanwhile leave as 50, 50 and 20."""
    lander = GatedLander()
    loop, consumer, stopping = consume_loop([P], lander=lander, max_in_flight=1)
    consumer.fetches.append({P: changes(P, (0, 0))})
    running = asyncio.create_task(loop.run())
    await until(lambda: list(lander.waiting) == [(0,)])
    consumer.fetches.append({P: changes(P, *((o, o) for o in range(1, 121)))})
    await until(lambda: len(loop.buffers.get(P, ())) == 120)
    for batch in [(0,), tuple(range(1, 51)), tuple(range(51, 101)), tuple(range(101, 121))]:
        await until(lambda batch=batch: list(lander.waiting) == [batch])  # type: ignore[misc]
        lander.release(batch)
    await until(lambda: consumer.committed(P) == 121)
    stopping.set()
    await running
    assert [len(b) for b in lander.landed] == [1, 50, 50, 20]


async def test_the_window_bounds_the_batches_in_flight_and_shrinks_on_push_back() -> None:
    """Ten disjoint batches wait: at most `max_in_flight` are in flight; once the destination
    pushed back (a 429), no new batch leaves until fewer than half as many are in flight."""
    lander = GatedLander()
    loop, consumer, stopping = consume_loop([P], lander=lander, max_in_flight=4)
    consumer.fetches.append({P: changes(P, *((o, o) for o in range(500)))})
    running = asyncio.create_task(loop.run())
    await until(lambda: len(lander.waiting) == 4)
    loop.congested()
    assert loop.window.limit == 2
    for batch in list(lander.waiting)[:2]:
        lander.release(batch)
    await until(lambda: len(lander.landed) == 2)
    consumer.fetches += [{}, {}]  # two more rounds of the loop, each dispatching what it may
    await until(lambda: not consumer.fetches)
    assert len(lander.waiting) == 2 and loop.window.limit == 2
    stopping.set()
    lander.open_all()
    await running


async def test_the_lag_follows_the_brokers_end_offsets_while_nothing_is_fetched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With nothing fetched (a paused partition during an outage), the lag gauge still grows:
    the partition's end comes from the broker (ListOffsets), not only from fetch responses."""
    monkeypatch.setattr(component, "LAG_REFRESH_SECONDS", 0.0)
    loop, consumer, stopping = consume_loop([P])
    consumer.fetches.append({P: records(P, 0, 50)})
    running = asyncio.create_task(loop.run())
    await until(lambda: consumer.committed(P) == 50)

    def lag() -> float | None:
        return loop.sink.metrics.registry.get_sample_value("streamer_sink_consumer_lag", {"partition": "0"})

    consumer.raw.ends = {P: 1_500}  # the capture went on producing; this consumer fetched none of it
    await until(lambda: lag() == 1_450)
    consumer.raw.ends = {P: 3_000}
    await until(lambda: lag() == 2_950)
    stopping.set()
    await running
