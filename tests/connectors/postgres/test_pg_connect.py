"""`connect()` facing a DSN asyncpg cannot parse: a configuration error that names the setting
and holds no fragment of the DSN (asyncpg parses before opening any socket: no server needed);
and the capture's session settings, on the real server."""

from __future__ import annotations

import asyncio
import traceback
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from connectors.postgres.errors import ConnectionLost, SetupError, translate_errors
from connectors.postgres.slot import CAPTURE_SESSION, connect
from devstack.stack import Endpoints

# Passwords with an unencoded '/', '?' or '#': asyncpg's own ValueError quotes what follows.
BAD_DSNS = [
    ("postgresql://streamer:s3cr/etPW@127.0.0.1:54321/tabuladormax", ("s3cr", "etPW")),
    ("postgresql://streamer:s3cr?etPW@127.0.0.1:54321/tabuladormax", ("s3cr", "etPW")),
    ("postgresql://streamer:s3cr#etPW@127.0.0.1/tabuladormax", ("s3cr", "etPW")),
]


@pytest.mark.parametrize(("dsn", "fragments"), BAD_DSNS)
async def test_an_unparsable_dsn_is_a_configuration_error_naming_the_setting_not_the_password(
    dsn: str, fragments: tuple[str, ...],
) -> None:
    """The message names STREAMER_SOURCE__DSN and says to percent-encode; neither it, its repr,
    nor its printed traceback holds any piece of the password or of the host part after it."""
    with pytest.raises(SetupError) as caught:
        async with connect(dsn, connect_timeout=2, setting="STREAMER_SOURCE__DSN"):
            pass
    error = caught.value
    assert str(error).startswith("STREAMER_SOURCE__DSN is not a valid PostgreSQL URL")
    assert "percent-encode" in str(error) and not error.retriable and error.sqlstate is None
    printed = "".join(traceback.format_exception(error)) + repr(error)
    for fragment in (*fragments, "54321", "tabuladormax"):
        assert fragment not in printed
    assert error.__cause__ is None and error.__context__ is None


async def test_without_a_setting_name_it_points_at_both_dsn_settings() -> None:
    """Callers that do not say which setting the DSN came from get both names."""
    with pytest.raises(SetupError, match="STREAMER_SOURCE__DSN .or STREAMER_DESTINATION__DSN."):
        async with connect(BAD_DSNS[0][0], connect_timeout=2):
            pass


@pytest.mark.integration
async def test_the_capture_session_outlives_a_role_level_statement_timeout(services: Endpoints, unique: str) -> None:
    """A role with `statement_timeout` (Supabase sets one on its API roles) would cancel the
    capture's long peeks on every attempt; the capture's session settings override it."""
    role, password = f"capture_{unique}", f"pw_{unique}"
    admin = await asyncpg.connect(services.source_dsn)
    await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    await admin.execute(f"ALTER ROLE {role} SET statement_timeout = '50ms'")
    parts = urlsplit(services.source_dsn)
    dsn = urlunsplit(parts._replace(netloc=f"{role}:{password}@{parts.hostname}:{parts.port}"))
    try:
        async with connect(dsn) as plain:
            with pytest.raises(asyncpg.QueryCanceledError):
                await plain.execute("SELECT pg_sleep(0.2)")
        async with connect(dsn, session=CAPTURE_SESSION) as capture:
            await capture.execute("SELECT pg_sleep(0.2)")
            assert await capture.fetchval("SHOW idle_in_transaction_session_timeout") == "0"
    finally:
        await admin.execute(f"DROP ROLE {role}")
        await admin.close()


@pytest.mark.integration
async def test_a_failing_close_never_replaces_the_error_that_ended_the_session(
    services: Endpoints, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server ends the session in the middle of a query: the block leaves with the retriable
    ConnectionLost, even when closing the dead connection raises too (asyncpg can raise
    InternalClientError there, its protocol out of step; seen in a fault run, where it stopped the
    capture for good), and the connection is aborted."""
    admin = await asyncpg.connect(services.source_dsn)
    try:
        with pytest.raises(ConnectionLost) as caught:
            async with connect(services.source_dsn) as conn:
                pid = await conn.fetchval("SELECT pg_backend_pid()")
                polite = asyncpg.Connection.close

                async def close_out_of_step(self: asyncpg.Connection, **options: Any) -> None:
                    if self is conn:
                        raise asyncpg.InternalClientError("cannot switch to state 12; another operation (2) is in "
                                                          "progress")
                    await polite(self, **options)

                monkeypatch.setattr(asyncpg.Connection, "close", close_out_of_step)
                with translate_errors("sleeping"):
                    await asyncio.gather(conn.execute("SELECT pg_sleep(30)"),
                                         admin.execute("SELECT pg_terminate_backend($1)", pid))
    finally:
        await admin.close()
    assert caught.value.retriable
    assert conn.is_closed()


def test_asyncpg_out_of_step_is_a_lost_connection() -> None:
    """asyncpg's InternalClientError (a session ended mid-operation) is retriable on a new connection."""
    with pytest.raises(ConnectionLost, match="reading: InternalClientError"), translate_errors("reading"):
        raise asyncpg.InternalClientError("cannot switch to state 12; another operation (2) is in progress")
