"""Bisecting a rejected batch against a fake server that refuses some rows."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from streamer.sink.bisect import Bisection, bisect


def _server(bad: set[int], log: list[tuple[int, ...]]):
    """A fake PostgREST: a request fails (naming its first bad row) if it holds any bad row."""

    def send(chunk: Sequence[int]) -> str | None:
        log.append(tuple(chunk))
        culprits = [row for row in chunk if row in bad]
        return f"bad row {culprits[0]}" if culprits else None

    return send


def test_two_bad_rows_in_fifty():
    """Of 50 rows with 2 bad, the 2 are found, 48 land, within 2·k·log2(n) requests."""
    log: list[tuple[int, ...]] = []
    rows = list(range(50))
    result = bisect(rows, "batch failed", _server({13, 37}, log))
    assert sorted(c.item for c in result.culprits) == [13, 37]
    assert sorted(result.landed) == [r for r in rows if r not in {13, 37}]
    assert result.requests == len(log)
    assert result.requests <= 2 * 2 * math.ceil(math.log2(50))


def test_culprit_keeps_its_own_error():
    """Each culprit carries the error it got when sent alone."""
    result = bisect(list(range(8)), "batch failed", _server({5}, []))
    assert [(c.item, c.error) for c in result.culprits] == [(5, "bad row 5")]


def test_every_row_bad():
    """When every row is bad, every row is a culprit and nothing lands."""
    result = bisect([1, 2, 3, 4], "batch failed", _server({1, 2, 3, 4}, []))
    assert sorted(c.item for c in result.culprits) == [1, 2, 3, 4]
    assert result.landed == ()


def test_single_row_batch_needs_no_request():
    """A failed batch of one row names that row at once, with the batch's error."""
    result = bisect([9], "batch failed", _server({9}, []))
    assert [(c.item, c.error) for c in result.culprits] == [(9, "batch failed")]
    assert result.requests == 0


def test_failed_right_half_is_not_resent_whole():
    """When the left half lands, the right half is split without being sent whole."""
    log: list[tuple[int, ...]] = []
    bisect([0, 1, 2, 3], "batch failed", _server({3}, log))
    assert (2, 3) not in log
    assert log == [(0, 1), (2,), (3,)]


def test_rows_that_fail_only_together_all_land():
    """Rows that land alone are not blamed, even if the whole batch failed."""
    log: list[tuple[int, ...]] = []

    def together_fail(chunk: Sequence[int]) -> str | None:
        log.append(tuple(chunk))
        return "conflict" if {1, 2} <= set(chunk) else None

    result = bisect([1, 2], "batch failed", together_fail)
    assert result.culprits == ()
    assert sorted(result.landed) == [1, 2]


def test_transient_failure_resends_the_same_chunk():
    """If the loop reports nothing (a transient error), next() hands back the same chunk."""
    bisection = Bisection([1, 2, 3, 4], "batch failed")
    first = bisection.next()
    assert bisection.next() == first
    bisection.landed()
    assert bisection.next() != first


def test_outcome_without_a_chunk_is_a_bug():
    """Reporting an outcome before asking for a chunk raises."""
    with pytest.raises(RuntimeError):
        Bisection([1, 2], "e").landed()


def test_result_before_done_is_a_bug():
    """Reading the result of an unfinished bisection raises."""
    bisection = Bisection([1, 2], "e")
    bisection.next()
    with pytest.raises(RuntimeError):
        _ = bisection.result


@pytest.mark.parametrize("bad", [set(), {0}, {49}, {0, 49}, {10, 11, 12}, set(range(0, 50, 7))])
def test_partition_of_rows_is_exact(bad: set[int]):
    """Whatever rows are bad, every row ends up exactly once, landed or culprit."""
    rows = list(range(50))
    result = bisect(rows, "batch failed", _server(bad, []))
    assert {c.item for c in result.culprits} == bad
    assert sorted([*result.landed, *(c.item for c in result.culprits)]) == rows
