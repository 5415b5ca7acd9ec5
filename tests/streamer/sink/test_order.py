"""Which buffered records may leave in the next batch: no lead overtakes its own earlier change."""

from __future__ import annotations

from streamer.sink.batch import ConsumedRecord
from streamer.sink.order import select


def rec(offset: int, lead: int | None) -> ConsumedRecord:
    return ConsumedRecord("leads", 0, offset, None if lead is None else str(lead).encode(), None)


def offsets(records: list[ConsumedRecord]) -> list[int]:
    return [r.offset for r in records]


def test_with_nothing_in_flight_the_front_of_the_buffer_leaves() -> None:
    """No lead in flight: the first `limit` records leave, the rest wait in order."""
    taken, kept = select([rec(0, 1), rec(1, 2), rec(2, 3)], set(), limit=2)
    assert (offsets(taken), offsets(kept)) == ([0, 1], [2])


def test_a_lead_in_flight_holds_all_its_records_and_only_them() -> None:
    """Lead 7 is in a batch in flight: both its records wait, leads 8 and 9 go ahead."""
    taken, kept = select([rec(10, 7), rec(11, 8), rec(12, 7), rec(13, 9)], {b"7"}, limit=50)
    assert (offsets(taken), offsets(kept)) == ([11, 13], [10, 12])


def test_several_changes_of_a_free_lead_leave_together() -> None:
    """A lead not in flight takes all its buffered changes into one batch (folded there)."""
    taken, kept = select([rec(0, 1), rec(1, 1), rec(2, 2)], set(), limit=50)
    assert (offsets(taken), offsets(kept)) == ([0, 1, 2], [])


def test_a_lead_cut_off_by_the_limit_is_not_overtaken() -> None:
    """The batch is full before lead 1's second change: it waits, and so does its third."""
    taken, kept = select([rec(0, 1), rec(1, 2), rec(2, 1), rec(3, 1)], set(), limit=2)
    assert (offsets(taken), offsets(kept)) == ([0, 1], [2, 3])


def test_records_without_a_key_keep_their_order_among_themselves() -> None:
    """Keyless records are ordered under one key (None), like a lead of their own."""
    taken, kept = select([rec(0, None), rec(1, 5), rec(2, None)], {None}, limit=50)
    assert (offsets(taken), offsets(kept)) == ([1], [0, 2])
