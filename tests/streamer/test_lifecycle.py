"""Components restart a session after a transient failure and stop when asked."""

from __future__ import annotations

import asyncio

import pytest

from streamer.lifecycle import run_with_restarts


class Flaky(Exception):
    def __init__(self, retriable: bool = True) -> None:
        super().__init__("flaky")
        self.retriable = retriable


async def test_a_transient_failure_restarts_the_session_until_it_returns() -> None:
    """Two retriable failures, then success: three attempts, `after` called each time."""
    attempts, afters = [], []

    async def session() -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise Flaky()

    await run_with_restarts("t", session, asyncio.Event(), retriable=(Flaky,), after=lambda: afters.append(1),
                            initial=0.01)
    assert (len(attempts), len(afters)) == (3, 3)


async def test_an_error_that_says_it_is_not_retriable_is_raised() -> None:
    """An exception of a retriable type whose `retriable` is False stops the component."""
    async def session() -> None:
        raise Flaky(retriable=False)

    with pytest.raises(Flaky):
        await run_with_restarts("t", session, asyncio.Event(), retriable=(Flaky,), initial=0.01)


async def test_stopping_during_the_backoff_ends_without_another_attempt() -> None:
    """Once `stopping` is set, the loop does not start the session again."""
    stopping, attempts = asyncio.Event(), []

    async def session() -> None:
        attempts.append(1)
        stopping.set()
        raise Flaky()

    await asyncio.wait_for(run_with_restarts("t", session, stopping, retriable=(Flaky,), initial=5), 2)
    assert len(attempts) == 1
