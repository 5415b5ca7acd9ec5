"""LISTEN on the `pgrst` channel and ask the schema cache to reload (docs/postgrest.md §4).

A dedicated connection, as PostgREST uses; `NOTIFY pgrst, 'reload schema'` or an empty payload
triggers a debounced reload, other payloads are ignored. When the connection drops the listener
reconnects with backoff and reloads, because notifications may have been missed meanwhile.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

import asyncpg
import structlog

from devserver.schema_cache import SchemaCacheHolder

log = structlog.get_logger(__name__)

CHANNEL = "pgrst"
RELOAD_PAYLOADS = frozenset({"", "reload schema"})


def wants_reload(payload: str) -> bool:
    """True for the payloads PostgREST treats as "reload the schema cache"."""
    return payload.strip() in RELOAD_PAYLOADS


class SchemaListener:
    """Async context manager owning the LISTEN connection and its reconnect loop."""

    def __init__(self, dsn: str, holder: SchemaCacheHolder) -> None:
        self._dsn = dsn
        self._holder = holder
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    async def __aenter__(self) -> SchemaListener:
        conn = await self._connect()
        self._task = asyncio.get_running_loop().create_task(self._supervise(conn))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _connect(self) -> asyncpg.Connection:
        conn: asyncpg.Connection = await asyncpg.connect(self._dsn)
        self._lost.clear()
        await conn.add_listener(CHANNEL, self._on_notify)
        conn.add_termination_listener(self._on_terminated)
        return conn

    def _on_notify(self, conn: Any, pid: int, channel: str, payload: object) -> None:
        if isinstance(payload, str) and wants_reload(payload):
            self._holder.request_reload()

    def _on_terminated(self, conn: Any) -> None:
        self._lost.set()

    async def _supervise(self, conn: asyncpg.Connection) -> None:
        try:
            while True:
                await self._lost.wait()
                log.warning("schema_listener_lost")
                conn = await self._reconnect()
                self._holder.request_reload()
        finally:
            await conn.close(timeout=2)

    async def _reconnect(self) -> asyncpg.Connection:
        delay = 0.5
        while True:
            try:
                return await self._connect()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("schema_listener_reconnect_failed", error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
