"""One active capture per slot: a session-level advisory lock on a dedicated connection.

A second instance waits as a standby and takes over when the first one's connection ends
(a killed process's socket closes at once, and PostgreSQL releases its session locks).
"""

from __future__ import annotations

import asyncio

import asyncpg

from connectors.postgres.errors import translate_errors


async def wait_until_set(event: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`, waking early when `event` is set; return whether it is set."""
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        pass
    return event.is_set()


async def acquire(conn: asyncpg.Connection, name: str, stopping: asyncio.Event, *, poll: float = 1.0,
                  on_standby: object = None) -> bool:
    """Take the lock named `name`, polling while another instance holds it; False if stopped first."""
    first = True
    while not stopping.is_set():
        with translate_errors(f"take the capture lock {name!r}"):
            if await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", name):
                return True
        if first and callable(on_standby):
            on_standby()
            first = False
        await wait_until_set(stopping, poll)
    return False
