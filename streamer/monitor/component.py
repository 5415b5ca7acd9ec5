"""The sync monitor as a Component of `streamer run` ("monitor"): it owns a small asyncpg pool on
the source database and offers the page and its API to the service's HTTP app (`http_routes()`).

While the database cannot be reached the API answers 503 and the component keeps trying. Every
`SAMPLE_SECONDS` it samples this process's metrics into a one-hour ring for the live charts
(`samples.py`), database or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import asyncpg
from starlette.routing import BaseRoute

from streamer.config import Settings
from streamer.lifecycle import wait_until_set
from streamer.logging import get_logger
from streamer.metrics import Metrics
from streamer.monitor.app import JwtCheck, MonitorApi
from streamer.monitor.operations import Operations
from streamer.monitor.samples import Ring, take
from streamer.monitor.store import JobStore

log = get_logger(__name__)
BACKOFF_INITIAL, BACKOFF_MAX = 1.0, 30.0
SAMPLE_SECONDS, HISTORY_SECONDS = 5.0, 3600.0


class MonitorComponent:
    """`streamer run` component "monitor"."""

    name = "monitor"

    def __init__(self, settings: Settings, metrics: Metrics, operations: Operations | None = None,
                 jwt_check: JwtCheck | None = None) -> None:
        self._dsn = settings.source.dsn
        token = settings.monitor.admin_token
        self.store: JobStore | None = None
        self.registry = metrics.registry
        self.ring = Ring(HISTORY_SECONDS, SAMPLE_SECONDS)
        self.api = MonitorApi(lambda: self.store, metrics.registry, token.get_secret_value() if token else None,
                              operations, self.ring, jwt_check)
        if token is None and jwt_check is None:
            log.info("monitor: no admin token configured; job actions are disabled (STREAMER_MONITOR__ADMIN_TOKEN)")

    def http_routes(self) -> list[BaseRoute]:
        return self.api.routes()

    def ready(self) -> bool:
        return self.store is not None

    async def run(self, stopping: asyncio.Event) -> None:
        sampler = asyncio.create_task(self._sample(stopping), name="monitor-sampler")
        try:
            await self._serve(stopping)
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler

    async def _sample(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            self.ring.add(take(self.registry, now=time.time()))
            await wait_until_set(stopping, SAMPLE_SECONDS)

    async def _serve(self, stopping: asyncio.Event) -> None:
        delay = BACKOFF_INITIAL
        while not stopping.is_set():
            try:
                pool = await asyncpg.create_pool(self._dsn.get_secret_value(), min_size=1, max_size=4,
                                                 command_timeout=10)
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("monitor: source database unavailable", error=str(exc), retry_in=delay)
                await wait_until_set(stopping, delay)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            try:
                self.store = JobStore(pool)
                log.info("monitor: serving /monitor")
                await stopping.wait()
            finally:
                self.store = None
                await pool.close()
