"""How long-running components live: restart a session after a transient failure, with capped
exponential backoff, until asked to stop (docs/design.md, Failure: pause and retry, never skip)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from streamer.logging import get_logger

log = get_logger(__name__)


async def wait_until_set(event: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`, waking early when `event` is set; return whether it is set."""
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        pass
    return event.is_set()


async def run_with_restarts(name: str, session: Callable[[], Awaitable[None]], stopping: asyncio.Event, *,
                            retriable: tuple[type[BaseException], ...], after: Callable[[], None] = lambda: None,
                            initial: float = 1.0, cap: float = 30.0) -> None:
    """Run `session` until it returns or `stopping` is set; restart it after an exception of a
    `retriable` type whose `retriable` attribute (when it has one) is true. `after` runs after
    every attempt (e.g. to clear a ready flag)."""
    backoff = initial
    while not stopping.is_set():
        try:
            await session()
            return
        except retriable as exc:
            if not getattr(exc, "retriable", True):
                raise
            log.warning(f"{name} interrupted, restarting", error=str(exc), retry_in=backoff)
        finally:
            after()
        await wait_until_set(stopping, backoff)
        backoff = min(backoff * 2, cap)
