"""One active capture per slot: a session-level advisory lock on a dedicated connection.

A second instance waits as a standby and takes over when the first one's connection ends
(a killed process's socket closes at once, and PostgreSQL releases its session locks).
"""

from __future__ import annotations

import asyncio

import asyncpg

from connectors.postgres.errors import translate_errors
from streamer.lifecycle import wait_until_set


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
