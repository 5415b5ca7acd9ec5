"""Which Kafka offsets the sink may commit: never past a record that is not finished.

Within one partition, batches of leads with disjoint ids are in flight together (key-ordered
concurrency, component.py), so a batch holds any set of the partition's offsets, not a span, and
batches finish in any order. A record is unfinished from the moment it is read (`received`) until
its batch landed or its failures were recorded (`finish`): error table and dead-letter topic. The
committable offset is the lowest unfinished record, or one past the last record read when all are
finished: Kafka's "next offset to read" (docs/design.md, Delivery: a position moves only after the
next stage has durably accepted the data). A record still buffered, waiting for its lead's
earlier change to land, is unfinished too.

    tracker = PartitionOffsets()
    tracker.received([10, 11, 12, 13])
    tracker.finish([11, 13])         # a batch of two leads landed
    tracker.committable()            # 10: record 10 is not finished
    tracker.finish([10])
    tracker.committable()            # 12
    tracker.finish([12])
    tracker.committable()            # 14

`dispatch(first, last)` / `complete(span)` are the same for a batch that covers a whole span.
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
    _unfinished: deque[int] = field(default_factory=deque)  # ascending; finished ones linger at the back
    _finished: set[int] = field(default_factory=set)  # finished, still in _unfinished behind an unfinished one
    _next: int | None = None  # one past the last offset received
    _first: int | None = None  # the first offset received: where reading started, nothing to commit
    _spans: set[Span] = field(default_factory=set)

    def received(self, offsets: Iterable[int]) -> None:
        """Records read, in ascending order, each above every offset received before."""
        unfinished, following = self._unfinished, self._next
        for offset in offsets:
            if self._first is None:
                self._first = offset
            if offset < 0 or (following is not None and offset < following):
                raise ValueError(f"offset {offset} is not above offset {following} received already"
                                 if following is not None else f"bad offset {offset}")
            unfinished.append(offset)
            following = offset + 1
        self._next = following

    def finish(self, offsets: Iterable[int]) -> None:
        """The records landed, or their failures were recorded."""
        unfinished, finished = self._unfinished, self._finished
        for offset in offsets:
            if offset in finished or not unfinished or offset < unfinished[0] or self._next is None \
                    or offset >= self._next:
                raise ValueError(f"offset {offset} is not unfinished")
            finished.add(offset)
        while unfinished and unfinished[0] in finished:
            finished.discard(unfinished.popleft())

    def lowest_unfinished(self) -> int | None:
        return self._unfinished[0] if self._unfinished else None

    def committable(self) -> int | None:
        """The next offset to read, if it has moved past `committed`; else None."""
        safe = self._unfinished[0] if self._unfinished else self._next
        if safe is None or safe == self._first or (self.committed is not None and safe <= self.committed):
            return None
        return safe

    def mark_committed(self, offset: int) -> None:
        self.committed = offset if self.committed is None else max(self.committed, offset)

    def dispatch(self, first: int, last: int) -> Span:
        """Record that the batch covering [first, last] has been read and sent on its way."""
        if first < 0 or last < first:
            raise ValueError(f"bad offset span [{first}, {last}]")
        if self._next is not None and first < self._next:
            raise ValueError(f"span [{first}, {last}] overlaps or precedes offset {self._next - 1}, dispatched already")
        # Its two ends are enough: no offset between them can be lower than `first`.
        self.received((first,) if first == last else (first, last))
        span = Span(first, last)
        self._spans.add(span)
        return span

    def complete(self, span: Span) -> None:
        """The batch landed or its failures were recorded."""
        if span not in self._spans:
            raise ValueError(f"span [{span.first}, {span.last}] is not in flight")
        self._spans.discard(span)
        self.finish((span.first,) if span.first == span.last else (span.first, span.last))

    @property
    def in_flight(self) -> int:
        """Spans dispatched and not finished."""
        return len(self._spans)

    @property
    def unfinished(self) -> int:
        """Records received and not finished."""
        return len(self._unfinished) - len(self._finished)


@dataclass
class OffsetTracker(Generic[K]):
    """`PartitionOffsets` for every assigned partition, keyed by e.g. aiokafka's `TopicPartition`."""

    partitions: dict[K, PartitionOffsets] = field(default_factory=dict)

    def received(self, partition: K, offsets: Iterable[int]) -> None:
        self.partitions.setdefault(partition, PartitionOffsets()).received(offsets)

    def finish(self, partition: K, offsets: Iterable[int]) -> None:
        self.partitions[partition].finish(offsets)

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
            if partition in self.partitions:
                self.partitions[partition].mark_committed(offset)

    def in_flight(self) -> int:
        return sum(o.in_flight for o in self.partitions.values())

    def revoke(self, partitions: Iterable[K]) -> None:
        """Forget revoked partitions (after committing what finished); a new owner resumes them."""
        for partition in partitions:
            self.partitions.pop(partition, None)
