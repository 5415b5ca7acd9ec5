"""Running one request's SQL in one transaction, as the request's role (docs/postgrest.md §1.6, §3).

This is the only module that talks to PostgreSQL for requests; asyncpg errors are translated here
into `ApiError` (SQLSTATE, message, detail and hint forwarded verbatim).

Per request: `BEGIN`, the transaction settings (one prepared statement, their values as
parameters), the main statement (a cached prepared statement), then `COMMIT`.

The settings are parameters, never literals in the SQL text: `request.headers` holds the caller's
`Authorization` and `apikey`, and PostgreSQL writes the text of a failing statement to its log
(a session cut by a restart, a role that does not exist) but not its parameters
(`log_parameter_max_length_on_error` is 0 by default). tests/streamer/test_fault_logs.py found the
service key in the server log when these were literals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from devserver.errors import (
    connection_error,
    pool_timeout,
    postgres_error,
)


@dataclass(frozen=True)
class TxSettings:
    """The transaction-scoped settings PostgREST applies with `set_config(..., true)`."""

    role: str
    claims_json: str
    headers_json: str
    method: str
    path: str
    search_path: str
    read_only: bool
    authenticated: bool  # role != db-anon-role: makes 42501 a 403 rather than a 401


SETTINGS_SQL = (
    "SELECT set_config('search_path', $1, true), set_config('role', $2, true), "
    "set_config('request.jwt.claims', $3, true), set_config('request.headers', $4, true), "
    "set_config('request.method', $5, true), set_config('request.path', $6, true)"
)


def begin_sql(tx: TxSettings) -> str:
    mode = "READ ONLY" if tx.read_only else "READ WRITE"
    return f"BEGIN ISOLATION LEVEL READ COMMITTED {mode}"


def settings_args(tx: TxSettings) -> tuple[str, ...]:
    """The values of `SETTINGS_SQL`: search_path, role, claims, headers, method and path.

    `set_config('role', …, true)` is `SET LOCAL ROLE`: RLS and grants apply to what follows,
    and a role that does not exist fails with 22023 (→ 401, v13.0.1+)."""
    return (tx.search_path, tx.role, tx.claims_json, tx.headers_json, tx.method, tx.path)


class Database:
    """The request pool (connections log in as the authenticator); `pool` is set at startup."""

    def __init__(self, acquisition_timeout: float, pool: asyncpg.Pool | None = None) -> None:
        self.pool = pool
        self._timeout = acquisition_timeout

    async def transact(
        self,
        tx: TxSettings,
        statements: Sequence[tuple[str, Sequence[object]]],
        *,
        verify: Callable[[list[list[Any]]], None] | None = None,
    ) -> list[list[Any]]:
        """Run `statements` in one transaction; the rows of each, or an `ApiError`.

        `verify` may raise an `ApiError` after the statements and before COMMIT (rolls back).
        """
        conn = await self._acquire()
        try:
            return await self._run(conn, tx, statements, verify)
        finally:
            await self.require_pool().release(conn)

    def require_pool(self) -> asyncpg.Pool:
        if self.pool is None:
            raise connection_error("the connection pool is not open")
        return self.pool

    async def _acquire(self) -> PoolConnectionProxy:
        pool = self.require_pool()
        try:
            conn: PoolConnectionProxy = await pool.acquire(timeout=self._timeout)
        except TimeoutError:
            raise pool_timeout() from None
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # Any failure to open a connection, a refused password (28P01) or a database starting
            # up (57P03) as much as a lost socket, is PostgREST's PGRST000 503, not a 500.
            raise connection_error(str(exc)) from exc
        return conn

    async def _run(
        self,
        conn: PoolConnectionProxy,
        tx: TxSettings,
        statements: Sequence[tuple[str, Sequence[object]]],
        verify: Callable[[list[list[Any]]], None] | None,
    ) -> list[list[Any]]:
        committed = False
        try:
            await conn.execute(begin_sql(tx))
            await conn.execute(SETTINGS_SQL, *settings_args(tx))
            results = [await conn.fetch(sql, *args) for sql, args in statements]
            if verify is not None:
                verify(results)
            await conn.execute("COMMIT")
            committed = True
            return results
        except asyncpg.PostgresError as exc:
            raise postgres_error(
                exc.sqlstate or "XX000",
                str(getattr(exc, "message", None) or exc),
                getattr(exc, "detail", None),
                getattr(exc, "hint", None),
                authenticated=tx.authenticated,
            ) from exc
        except (OSError, asyncpg.InterfaceError) as exc:
            raise connection_error(str(exc)) from exc
        finally:
            if not committed:
                await _rollback_quietly(conn)


async def _rollback_quietly(conn: PoolConnectionProxy) -> None:
    """Leave the connection idle: the pool does not reset it (SET LOCAL needs no reset)."""
    if conn.is_closed():
        return
    try:
        await asyncio.shield(conn.execute("ROLLBACK"))
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        conn.terminate()


async def no_reset(conn: asyncpg.Connection) -> None:
    """Pool `reset` hook: skip asyncpg's per-release reset query (one round trip saved)."""
    return None
