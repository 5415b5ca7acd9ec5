"""Bisecting a rejected batch against a fake server that refuses some rows."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from streamer.sink.bisect import Bisection, bisect, uniform_failure


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


def _same_code(error: str) -> str:
    return error.split(":")[0]


def test_every_row_failing_alike_is_a_uniform_failure():
    """Nothing landed and every row failed alone with the same code: that shared error comes back."""
    result = bisect([1, 2, 3, 4], "P0001: batch", lambda chunk: f"P0001: row {chunk[0]}")
    assert uniform_failure(result, _same_code) == "P0001: row 1"


def test_rows_failing_differently_are_not_a_uniform_failure():
    """Two codes among the culprits mean the rows are at fault, each with its own error."""
    result = bisect([1, 2], "batch", lambda chunk: f"{23514 if chunk[0] == 1 else 23502}: row")
    assert uniform_failure(result, _same_code) is None


def test_a_landed_row_rules_out_a_uniform_failure():
    """If any row landed, the destination takes writes: the culprits are the rows' own fault."""
    result = bisect([1, 2, 3], "P0001: batch", _server({1, 2}, []))
    assert uniform_failure(result, _same_code) is None


def test_a_single_row_is_never_a_uniform_failure():
    """One row failing proves nothing about the destination: it stays an ordinary culprit."""
    result = bisect([9], "P0001: batch", _server({9}, []))
    assert uniform_failure(result, _same_code) is None
