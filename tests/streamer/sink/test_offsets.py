"""Committable offsets: the longest finished prefix of dispatched batches, per partition."""

from __future__ import annotations

import pytest

from streamer.sink.offsets import OffsetTracker, PartitionOffsets


def test_nothing_committable_before_any_batch_finishes():
    """With batches only in flight there is nothing to commit."""
    tracker = PartitionOffsets()
    tracker.dispatch(0, 49)
    assert tracker.committable() is None
    assert tracker.in_flight == 1


def test_finished_batch_commits_last_plus_one():
    """A finished batch makes its last offset plus one committable."""
    tracker = PartitionOffsets()
    tracker.complete(tracker.dispatch(0, 49))
    assert tracker.committable() == 50


def test_never_past_a_batch_in_flight():
    """A later batch finishing first does not move the commit past an earlier one in flight."""
    tracker = PartitionOffsets()
    a = tracker.dispatch(0, 49)
    b = tracker.dispatch(50, 99)
    c = tracker.dispatch(100, 149)
    tracker.complete(c)
    tracker.complete(b)
    assert tracker.committable() is None
    tracker.complete(a)
    assert tracker.committable() == 150
    assert tracker.in_flight == 0


def test_prefix_stops_at_the_first_unfinished_batch():
    """With the first two of three batches done, the commit covers only those two."""
    tracker = PartitionOffsets()
    a, b = tracker.dispatch(0, 9), tracker.dispatch(10, 19)
    tracker.dispatch(20, 29)
    tracker.complete(b)
    tracker.complete(a)
    assert tracker.committable() == 20


def test_gaps_between_batches_are_allowed():
    """Offsets need not be contiguous (transaction markers, compaction)."""
    tracker = PartitionOffsets()
    tracker.complete(tracker.dispatch(0, 9))
    tracker.complete(tracker.dispatch(12, 20))
    assert tracker.committable() == 21


def test_committed_offsets_are_not_offered_again():
    """After mark_committed, the same offset is not committable again until more finishes."""
    tracker = PartitionOffsets()
    tracker.complete(tracker.dispatch(0, 9))
    tracker.mark_committed(10)
    assert tracker.committable() is None
    tracker.complete(tracker.dispatch(10, 19))
    assert tracker.committable() == 20


def test_out_of_order_dispatch_is_refused():
    """A batch overlapping or preceding one dispatched already is a caller bug."""
    tracker = PartitionOffsets()
    tracker.dispatch(10, 19)
    with pytest.raises(ValueError):
        tracker.dispatch(15, 25)
    tracker2 = PartitionOffsets()
    tracker2.complete(tracker2.dispatch(0, 9))
    with pytest.raises(ValueError):
        tracker2.dispatch(5, 12)


def test_completing_twice_is_refused():
    """A batch cannot finish twice."""
    tracker = PartitionOffsets()
    span = tracker.dispatch(0, 9)
    tracker.dispatch(10, 19)
    tracker.complete(span)
    with pytest.raises(ValueError):
        tracker.complete(span)


def test_tracker_reports_only_partitions_that_moved():
    """Across partitions, commits() lists only those with a new committable offset."""
    tracker: OffsetTracker[tuple[str, int]] = OffsetTracker()
    p0, p1 = ("t", 0), ("t", 1)
    tracker.complete(p0, tracker.dispatch(p0, 0, 9))
    tracker.dispatch(p1, 0, 9)
    assert tracker.commits() == {p0: 10}
    tracker.mark_committed({p0: 10})
    assert tracker.commits() == {}
    assert tracker.in_flight() == 1


def test_revoked_partitions_are_forgotten():
    """After a revoke the partition's state is gone, so a re-assignment starts fresh."""
    tracker: OffsetTracker[int] = OffsetTracker()
    tracker.dispatch(0, 0, 9)
    tracker.revoke([0])
    assert tracker.in_flight() == 0
    tracker.dispatch(0, 0, 9)


def test_commit_stops_at_the_lowest_unfinished_record():
    """Batches of disjoint leads finish out of order: the commit is the lowest record not finished."""
    tracker = PartitionOffsets()
    tracker.received([10, 11, 12, 13])
    tracker.finish([11, 13])
    assert tracker.committable() is None  # 10, where reading started, is not finished
    tracker.finish([10])
    assert tracker.committable() == 12
    tracker.finish([12])
    assert tracker.committable() == 14


def test_a_record_waiting_in_the_buffer_holds_the_commit():
    """A record read but not yet in any batch (its lead's earlier change in flight) is unfinished."""
    tracker = PartitionOffsets()
    tracker.received([0, 1, 2, 3, 4])
    tracker.finish([0, 1, 3, 4])
    assert tracker.committable() == 2
    assert tracker.unfinished == 1


def test_commits_never_pass_an_unfinished_record_whatever_the_order():
    """Finishing a shuffled set of records: after each step the commit is the lowest unfinished."""
    order = [7, 2, 9, 0, 5, 1, 8, 3, 6, 4]
    tracker = PartitionOffsets()
    tracker.received(range(100, 110))
    done: set[int] = set()
    for i in order:
        tracker.finish([100 + i])
        done.add(100 + i)
        lowest = min(set(range(100, 110)) - done, default=110)
        assert tracker.committable() == (None if lowest == 100 else lowest)


def test_records_must_be_received_in_offset_order_and_finished_once():
    """Receiving below what was read, or finishing a record twice or never read, is a caller bug."""
    tracker = PartitionOffsets()
    tracker.received([5, 6])
    with pytest.raises(ValueError):
        tracker.received([6])
    tracker.finish([5])
    with pytest.raises(ValueError):
        tracker.finish([5])
    with pytest.raises(ValueError):
        tracker.finish([7])
