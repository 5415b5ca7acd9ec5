"""Closing a connection without losing the error that ended its session."""

from __future__ import annotations

import asyncpg

CLOSE_SECONDS = 5.0  # a polite close waits this long for the server before the connection is aborted


async def close(conn: asyncpg.Connection) -> None:
    """Close `conn` politely, else abort it. Closing a session the server ended in the middle of
    an operation can itself raise (asyncpg's InternalClientError, its protocol out of step), and
    an error raised while cleaning up would replace the retriable one that ended the session."""
    try:
        await conn.close(timeout=CLOSE_SECONDS)
    except Exception:  # whatever the close raises, the connection is gone: abort it
        conn.terminate()
