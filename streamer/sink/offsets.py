"""Which Kafka offsets the sink may commit: never past a batch still in flight.

Batches of one partition are dispatched in offset order and may finish in any order (several
requests in flight). A batch is finished once it landed or its failures were recorded (error
table and dead-letter topic). The committable offset is `last + 1` of the longest finished
prefix, Kafka's "next offset to read" (docs/design.md, Delivery: a position moves only after the
next stage has durably accepted the data).

    tracker = PartitionOffsets()
    a = tracker.dispatch(0, 49)
    b = tracker.dispatch(50, 99)
    tracker.complete(b)
    tracker.committable()        # None: batch a is still in flight
    tracker.complete(a)
    tracker.committable()        # 100
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Span:
    """The offsets a batch covers, both ends included."""

    first: int
    last: int


@dataclass
class PartitionOffsets:
    """The commit position of one partition. `committed` is the last offset committed, if known."""

    committed: int | None = None
    _in_flight: deque[Span] = field(default_factory=deque)
    _done: set[Span] = field(default_factory=set)
    _safe: int | None = None

    def dispatch(self, first: int, last: int) -> Span:
        """Record that the batch covering [first, last] has been sent on its way."""
        if first < 0 or last < first:
            raise ValueError(f"bad offset span [{first}, {last}]")
        floor = self._in_flight[-1].last if self._in_flight else (self._safe or 0) - 1
        if first <= floor:
            raise ValueError(f"span [{first}, {last}] overlaps or precedes offset {floor}, dispatched already")
        span = Span(first, last)
        self._in_flight.append(span)
        return span

    def complete(self, span: Span) -> None:
        """The batch landed or its failures were recorded."""
        if span not in self._in_flight or span in self._done:
            raise ValueError(f"span [{span.first}, {span.last}] is not in flight")
        self._done.add(span)
        while self._in_flight and self._in_flight[0] in self._done:
            finished = self._in_flight.popleft()
            self._done.discard(finished)
            self._safe = finished.last + 1

    def committable(self) -> int | None:
        """The next offset to read, if it has moved past `committed`; else None."""
        if self._safe is None or (self.committed is not None and self._safe <= self.committed):
            return None
        return self._safe

    def mark_committed(self, offset: int) -> None:
        self.committed = offset if self.committed is None else max(self.committed, offset)

    @property
    def in_flight(self) -> int:
        """Batches dispatched and not finished (for draining on shutdown or revoke)."""
        return len(self._in_flight) - len(self._done)


@dataclass
class OffsetTracker(Generic[K]):
    """`PartitionOffsets` for every assigned partition, keyed by e.g. aiokafka's `TopicPartition`."""

    partitions: dict[K, PartitionOffsets] = field(default_factory=dict)

    def dispatch(self, partition: K, first: int, last: int) -> Span:
        return self.partitions.setdefault(partition, PartitionOffsets()).dispatch(first, last)

    def complete(self, partition: K, span: Span) -> None:
        self.partitions[partition].complete(span)

    def commits(self) -> dict[K, int]:
        """Per partition, the offset to commit now; partitions with nothing new are left out."""
        found = {p: o.committable() for p, o in self.partitions.items()}
        return {p: offset for p, offset in found.items() if offset is not None}

    def mark_committed(self, offsets: dict[K, int]) -> None:
        for partition, offset in offsets.items():
            self.partitions[partition].mark_committed(offset)

    def in_flight(self) -> int:
        return sum(o.in_flight for o in self.partitions.values())

    def revoke(self, partitions: Iterable[K]) -> None:
        """Forget revoked partitions (after committing what finished); a new owner resumes them."""
        for partition in partitions:
            self.partitions.pop(partition, None)
