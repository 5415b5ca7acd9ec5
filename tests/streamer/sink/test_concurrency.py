"""The adaptive concurrency window (AIMD): grows while batches land, halves on 429/503/timeouts."""

from __future__ import annotations

import pytest

from connectors.postgrest.errors import PostgrestError
from streamer.sink.concurrency import Window, is_congestion


def test_slow_start_adds_one_batch_per_batch_landed_up_to_the_maximum() -> None:
    """Before any push-back the window grows by one per batch landed, never past `maximum`."""
    window = Window(maximum=6, initial=4)
    assert window.limit == 4
    window.landed()
    assert window.limit == 5
    for _ in range(10):
        window.landed()
    assert window.limit == 6


def test_a_429_or_503_halves_the_window() -> None:
    """A congestion signal divides the window by two."""
    window = Window(maximum=64, initial=32)
    window.congested(now=100.0)
    assert window.limit == 16


def test_the_window_never_falls_below_the_minimum() -> None:
    """However many signals arrive, at least `minimum` batches may be in flight."""
    window = Window(maximum=8, minimum=2, initial=8, cooldown=0)
    for t in range(10):
        window.congested(now=float(t))
    assert window.limit == 2


def test_signals_within_the_cooldown_count_once() -> None:
    """The batches in flight that all meet the same 429 burst halve the window once, not once each."""
    window = Window(maximum=64, initial=32, cooldown=1.0)
    for now in (10.0, 10.1, 10.5, 10.9):
        window.congested(now)
    assert window.limit == 16
    window.congested(11.0)
    assert window.limit == 8


def test_after_a_decrease_growth_is_additive() -> None:
    """After push-back the window grows by about one per window's worth of batches landed."""
    window = Window(maximum=64, initial=20)
    window.congested(now=0.0)
    assert window.limit == 10
    grown = []
    for _ in range(22):
        window.landed()
        grown.append(window.limit)
    assert grown[:10] == [10] * 10  # +1/10, +1/10.1, ...: just under one whole batch after ten
    assert grown[10:21] == [11] * 11 and grown[21] == 12


@pytest.mark.parametrize(("status", "code", "congestion"), [
    (429, None, True), (503, None, True), (None, None, True),  # None: timeout, connection refused or reset
    (500, "40P01", False), (400, "23514", False), (401, None, False),
])
def test_which_answers_are_push_back(status: int | None, code: str | None, congestion: bool) -> None:
    """429, 503 and no answer are the destination's overload; other refusals are not."""
    assert is_congestion(PostgrestError("answer", status=status, code=code)) is congestion


def test_bounds_are_checked() -> None:
    """A minimum above the maximum is a configuration error."""
    with pytest.raises(ValueError):
        Window(maximum=2, minimum=3)
