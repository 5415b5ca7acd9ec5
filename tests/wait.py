"""Waiting for a condition instead of sleeping a fixed time and hoping it held by then."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(condition: Callable[[], object], *, seconds: float = 10.0, every: float = 0.01) -> None:
    """Return as soon as `condition()` is true; fail (AssertionError) if it is still false after
    `seconds`. The bound is a safety net for a broken build, not a timing assertion."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {seconds} s: {condition}")
        await asyncio.sleep(every)
