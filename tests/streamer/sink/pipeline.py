"""A pipeline of our own for sink tests: a scratch pair of tables (devstack/scratch.py),
and helpers to run the capture and the sink in-process and to compare both sides."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from devstack.scratch import ScratchPair
from streamer.capture.component import CaptureComponent
from streamer.config import Settings
from streamer.metrics import Metrics
from streamer.sink.component import SinkComponent


class Pipeline(ScratchPair):
    """A scratch pair plus convergence checks."""

    async def converged(self, *, seconds: float = 120,
                        ignore: set[int] | frozenset[int] = frozenset()) -> tuple[dict[int, Any], dict[int, Any]]:
        """Wait until the destination equals the source (minus `ignore`d ids); return both sides."""
        deadline = time.monotonic() + seconds
        while True:
            src = {k: v for k, v in (await self.rows(self.source)).items() if k not in ignore}
            dst = {k: v for k, v in (await self.rows(self.destination)).items() if k not in ignore}
            if src == dst or time.monotonic() > deadline:
                return src, dst
            await asyncio.sleep(0.5)


@asynccontextmanager
async def running(settings: Settings, *, capture: bool = True, sink: bool = True) -> AsyncIterator[Metrics]:
    """Capture and sink running in this process until the block ends (then drained)."""
    metrics, stopping = Metrics(), asyncio.Event()
    components: list[Any] = ([CaptureComponent(settings, metrics)] if capture else []) + (
        [SinkComponent(settings, metrics)] if sink else [])
    tasks = [asyncio.create_task(c.run(stopping)) for c in components]
    for _ in range(200):
        if all(c.ready() for c in components) or any(t.done() for t in tasks):
            break
        await asyncio.sleep(0.05)
    for task in tasks:
        if task.done():
            task.result()
    try:
        yield metrics
    finally:
        stopping.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
