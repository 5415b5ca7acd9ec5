"""The token bucket, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from streamer.sink.ratelimit import RateLimiter


class FakeClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_unlimited_never_waits():
    """With no rate, acquire returns at once."""
    limiter = RateLimiter(None)
    assert [await limiter.acquire() for _ in range(100)] == [0.0] * 100


async def test_requests_are_spaced_by_the_rate():
    """At 4 per second with a burst of 1, consecutive requests wait a quarter second each."""
    clock = FakeClock()
    limiter = RateLimiter(4.0, clock=clock, sleep=clock.sleep)
    waits = [await limiter.acquire() for _ in range(3)]
    assert waits == [0.0, 0.25, 0.25]
    assert clock.now == 0.5


async def test_burst_is_spent_first():
    """A burst of 3 lets three requests through at once, then the rate applies."""
    clock = FakeClock()
    limiter = RateLimiter(2.0, burst=3, clock=clock, sleep=clock.sleep)
    waits = [await limiter.acquire() for _ in range(4)]
    assert waits == [0.0, 0.0, 0.0, 0.5]


async def test_idle_time_refills_up_to_the_burst():
    """After a long idle spell only `burst` tokens are available, not more."""
    clock = FakeClock()
    limiter = RateLimiter(1.0, burst=2, clock=clock, sleep=clock.sleep)
    clock.now = 100.0
    waits = [await limiter.acquire() for _ in range(3)]
    assert waits == [0.0, 0.0, 1.0]


async def test_concurrent_callers_queue_in_arrival_order():
    """Concurrent callers arriving at one instant reserve in turn and wait 0, 1 and 2 intervals."""
    clock = FakeClock()

    async def frozen_sleep(seconds: float) -> None:
        await asyncio.sleep(0)

    limiter = RateLimiter(1.0, clock=clock, sleep=frozen_sleep)
    waits = await asyncio.gather(*(limiter.acquire() for _ in range(3)))
    assert waits == [0.0, 1.0, 2.0]


async def test_cancelled_wait_returns_its_token():
    """A caller cancelled while waiting gives its token back to the next one."""
    clock = FakeClock()
    gate = asyncio.Event()

    async def blocking_sleep(seconds: float) -> None:
        await gate.wait()

    limiter = RateLimiter(1.0, clock=clock, sleep=blocking_sleep)
    await limiter.acquire()
    task = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    clock.now = 1.0
    assert await limiter.acquire() == 0.0


def test_bad_rate_is_refused():
    """A zero or negative rate is a configuration error."""
    with pytest.raises(ValueError):
        RateLimiter(0.0)
