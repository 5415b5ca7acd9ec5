"""The comparison on literal inputs: range splitting, hashing, and the walk over two in-memory sides."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from streamer.verify.merkle import (
    BIGINT_MAX,
    BIGINT_MIN,
    EMPTY,
    MODULUS,
    Differences,
    Plan,
    Range,
    Summary,
    compare,
    diff_rows,
    fold,
    row_hash,
    split,
)
from streamer.verify.sides import micros


class MemorySide:
    """A side over a dict of id -> hash, counting what it was asked."""

    def __init__(self, rows: dict[int, int]) -> None:
        self.data = dict(sorted(rows.items()))
        self.largest_listing = 0

    async def bounds(self) -> Range | None:
        return Range(min(self.data), max(self.data)) if self.data else None

    async def summaries(self, ranges: Sequence[Range]) -> list[Summary]:
        return [fold([h for i, h in self.data.items() if r.lo <= i <= r.hi]) for r in ranges]

    async def rows(self, ranges: Sequence[Range]) -> list[tuple[int, int]]:
        found = sorted((i, h) for i, h in self.data.items() if any(r.lo <= i <= r.hi for r in ranges))
        self.largest_listing = max(self.largest_listing, len(found))
        return found


def leads(ids: range | list[int]) -> dict[int, int]:
    return {i: row_hash(i, 1_700_000_000_000_000 + i) for i in ids}


def test_split_covers_the_range_exactly_in_order() -> None:
    """The parts of a split are contiguous, in order, and cover the range, whatever its width."""
    cases = ((Range(0, 9), 4), (Range(5, 5 + 10**6), 16), (Range(BIGINT_MIN, BIGINT_MAX), 16), (Range(3, 4), 16))
    for r, parts in cases:
        pieces = split(r, parts)
        assert pieces[0].lo == r.lo and pieces[-1].hi == r.hi and len(pieces) <= parts
        assert all(a.hi + 1 == b.lo for a, b in zip(pieces, pieces[1:], strict=False))


def test_a_range_needs_lo_at_most_hi() -> None:
    """An empty range is refused."""
    with pytest.raises(ValueError):
        Range(2, 1)


def test_fold_is_the_count_and_the_sum_modulo_2_64() -> None:
    """A range's summary is its row count and the sum of its row hashes modulo 2^64, order-free."""
    assert fold([]) == EMPTY
    assert fold([2**63 - 1, 2**63 - 1, 5]) == Summary(3, (2 * (2**63 - 1) + 5) % MODULUS)
    assert fold([-1, 1]) == Summary(2, 0)
    assert fold([7, -3, 11]) == fold([11, 7, -3])


def test_row_hash_depends_on_id_and_updated_at() -> None:
    """Two leads, or two versions of one lead, hash apart; NULL and infinity have their own tokens."""
    assert row_hash(1, 10) != row_hash(2, 10)
    assert row_hash(1, 10) != row_hash(1, 11)
    assert len({row_hash(1, None), row_hash(1, "infinity"), row_hash(1, "-infinity"), row_hash(1, 0)}) == 4
    assert BIGINT_MIN <= row_hash(123456789, 1) <= BIGINT_MAX


def test_micros_reads_postgrest_timestamps_as_epoch_microseconds() -> None:
    """Offsets, fractions and dates before 1970 become exact epoch microseconds."""
    assert micros("1970-01-01T00:00:00+00:00") == 0
    assert micros("2024-01-01T02:00:00.123456+02:00") == 1704067200123456
    assert micros("1969-12-31T23:59:59.999999+00:00") == -1
    assert micros("infinity") == "infinity" and micros(None) is None


def test_diff_rows_sorts_ids_into_missing_extra_and_different() -> None:
    """Ids only on the source are missing, only on the destination extra, on both with other hashes different."""
    assert diff_rows([(1, 1), (2, 2), (5, 5)], [(2, 2), (5, 6), (9, 9)]) == ([1], [9], [5])
    assert diff_rows([], []) == ([], [], [])


async def test_equal_sides_compare_equal_at_the_first_level() -> None:
    """Equal sides stop after the top range's first split: no row is listed."""
    rows = leads(range(1, 100_001))
    found = await compare(MemorySide(rows), MemorySide(dict(rows)), Plan(fanout=16, leaf_size=100), Differences())
    assert found.total == 0 and found.rows_listed == 0 and found.ranges_compared == 16


async def test_planted_differences_are_found_exactly() -> None:
    """A lead missing, one changed and one extra at the destination are found, and nothing else."""
    source = leads(range(1, 50_001))
    destination = dict(source)
    del destination[777]
    destination[31_337] = row_hash(31_337, 1)
    destination[60_000] = row_hash(60_000, 1)
    found = await compare(MemorySide(source), MemorySide(destination), Plan(fanout=8, leaf_size=50), Differences())
    assert (found.first_missing, found.first_extra, found.first_different) == ([777], [60_000], [31_337])
    assert (found.missing, found.extra, found.different) == (1, 1, 1)
    assert found.rows_listed < 400  # three leaves of at most 50 rows, both sides


async def test_sparse_ids_across_the_bigint_domain() -> None:
    """Ids spread over the whole bigint domain, the extremes included, are compared exactly."""
    ids = [BIGINT_MIN, -10**18, -5, 0, 3, 10**15, 10**18 + 7, BIGINT_MAX]
    source = leads(ids)
    destination = {i: h for i, h in source.items() if i != 0} | {BIGINT_MAX: 1}
    found = await compare(MemorySide(source), MemorySide(destination), Plan(fanout=4, leaf_size=2), Differences())
    assert (found.first_missing, found.first_extra, found.first_different) == ([0], [], [BIGINT_MAX])


async def test_one_empty_side_lists_everything_within_the_listing_bound() -> None:
    """Against an empty destination every lead is missing, listed at most `rows_per_call` at a time."""
    source = MemorySide(leads(range(1000, 6000)))
    seen: list[int] = []

    async def on_leaf(missing: list[int], extra: list[int], different: list[int]) -> None:
        seen.extend(missing)

    plan = Plan(fanout=16, leaf_size=100, rows_per_call=300)
    found = await compare(source, MemorySide({}), plan, Differences(keep=3, on_leaf=on_leaf))
    assert found.missing == 5000 and found.first_missing == [1000, 1001, 1002]
    assert sorted(seen) == list(range(1000, 6000))
    assert source.largest_listing <= 300


async def test_both_sides_empty_is_equal() -> None:
    """Two empty tables are equal without a single range compared."""
    found = await compare(MemorySide({}), MemorySide({}), Plan(), Differences())
    assert found.total == 0 and found.ranges_compared == 0


def test_plan_refuses_a_leaf_larger_than_a_call() -> None:
    """A leaf must fit in one listing call (PostgREST cuts answers at db-max-rows)."""
    with pytest.raises(ValueError):
        Plan(leaf_size=2000, rows_per_call=1000)
