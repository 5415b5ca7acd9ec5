"""A token bucket for `STREAMER_SINK__REQUESTS_PER_SECOND`, shared by the sink's concurrent senders.

Supabase publishes no Data API request-rate numbers (docs/postgrest.md §6), so the limit is the
operator's; None means unlimited.

    limiter = RateLimiter(5.0)      # 5 requests a second, bursts of 1
    await limiter.acquire()         # before each request

Callers reserve tokens in arrival order and then sleep, so waiters are served first come, first
served, with no lock: the reservation happens between awaits. The clock and sleep are injectable
so tests run on a fake clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class RateLimiter:
    def __init__(
        self,
        rate: float | None,
        *,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive, or None for unlimited")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = burst
        self._stamp = clock()

    async def acquire(self, tokens: float = 1.0) -> float:
        """Wait until `tokens` may be spent; return the seconds waited."""
        if self.rate is None:
            return 0.0
        if not 0 < tokens <= self.burst:
            raise ValueError(f"can take between 0 and {self.burst} tokens at once")
        wait = self._reserve(tokens)
        if wait > 0:
            try:
                await self._sleep(wait)
            except asyncio.CancelledError:
                self._tokens += tokens  # the request will not be sent: give the tokens back
                raise
        return wait

    def _reserve(self, tokens: float) -> float:
        assert self.rate is not None
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        # The balance may go negative: later callers queue behind this reservation.
        self._tokens -= tokens
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate
