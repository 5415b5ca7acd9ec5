"""The streaming replication reader (connectors/postgres/stream.py): errors in the connector's
tree without the password, the read-safety rule, and a real stream whose slot moves only to what
the caller confirms."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import pytest

from connectors.postgres import slot as pgslot
from connectors.postgres.assembler import TransactionAssembler, TxBatch
from connectors.postgres.errors import (
    ConnectionLost,
    PermissionDenied,
    ReplicationRefused,
    SetupError,
    TransientError,
)
from connectors.postgres.pgoutput import decode
from connectors.postgres.stream import ReplicationConnection, _connect_error


@pytest.mark.parametrize(("message", "cls"), [
    ('connection to server at "127.0.0.1", port 5432 failed: FATAL:  no pg_hba.conf entry for replication '
     'connection from host "127.0.0.1", user "app", no encryption', ReplicationRefused),
    ('FATAL:  pg_hba.conf rejects replication connection for host "127.0.0.1", user "app"', ReplicationRefused),
    ("FATAL:  must be superuser or replication role to start walsender", ReplicationRefused),
    ("FATAL:  number of requested standby connections exceeds max_wal_senders (currently 0)", ReplicationRefused),
    ('FATAL:  password authentication failed for user "app"', PermissionDenied),
    ('FATAL:  database "nope" does not exist', SetupError),
    ("Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?", ConnectionLost),
])
def test_a_connection_failure_is_sorted_by_what_libpq_says(message: str, cls: type[Exception]) -> None:
    """libpq gives no SQLSTATE for a failed connection: refusals of the replication connection
    (which the capture may answer with the SQL reader), authentication, a missing database and
    the rest (retriable) are told apart by the message."""
    error = _connect_error("open", message)
    assert type(error) is cls
    assert error.retriable == (cls is ConnectionLost)


class _Cursor:
    wal_end = 0


class _Conn:
    closed = 0

    def cursor(self) -> _Cursor:
        return _Cursor()

    def get_backend_pid(self) -> int:
        return 1


def test_reading_waits_while_a_keepalive_could_confirm_an_unacknowledged_transaction() -> None:
    """psycopg2 confirms a keepalive's WAL end by itself once the last confirmed LSN reaches the
    start of the last message read; that is only safe when no whole transaction is unacked."""
    stream = ReplicationConnection(_Conn(), [])
    stream.confirmed, stream.last_data_start = 200, 100  # a transaction that began before a confirmed commit
    assert not stream.may_read(unacked_complete=True)
    assert stream.may_read(unacked_complete=False)
    stream.last_data_start = 300  # the usual case: the last message lies past what was confirmed
    assert stream.may_read(unacked_complete=True)


pytestmark = pytest.mark.integration


@pytest.fixture
async def slot(services: Any, source_db: asyncpg.Connection) -> AsyncIterator[tuple[str, str, str]]:
    """(table, publication, slot), with the publication and slot in place."""
    suffix = uuid.uuid4().hex[:10]
    table, publication, name = f"stream_{suffix}", f"stream_pub_{suffix}", f"stream_slot_{suffix}"
    await source_db.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, name text, at timestamptz)")
    await pgslot.ensure_publication(source_db, publication, table)
    await pgslot.ensure_slot(source_db, name)
    try:
        yield table, publication, name
    finally:
        for _ in range(50):
            try:
                await pgslot.drop_slot(source_db, name)
                break
            except TransientError:  # its walsender is still exiting
                await asyncio.sleep(0.1)
        await pgslot.drop_publication(source_db, publication)
        await source_db.execute(f"DROP TABLE IF EXISTS {table}")


async def read_units(stream: ReplicationConnection, want: int, seconds: float = 20) -> list[TxBatch]:
    assembler, units = TransactionAssembler(), []
    deadline = asyncio.get_running_loop().time() + seconds
    while len(units) < want and asyncio.get_running_loop().time() < deadline:
        for lsn, data in stream.read_available(100):
            units.extend(b for b in assembler.feed(decode(data), lsn) if b.is_last)
        if len(units) < want:
            try:
                await asyncio.wait_for(stream.wait_readable(), 0.5)
            except TimeoutError:
                pass
    return units


async def confirmed(conn: asyncpg.Connection, slot: str) -> int | None:
    status = await pgslot.slot_status(conn, slot)
    assert status is not None
    return status.confirmed_flush_lsn


async def test_the_slot_moves_only_to_what_the_reader_confirms(
    services: Any, source_db: asyncpg.Connection, slot: tuple[str, str, str]
) -> None:
    """Two transactions are received; the slot stays where it was until the first one is
    confirmed, then sits exactly at its end; session settings give ISO timestamps in UTC; the
    slot is active with the stream's walsender pid while it streams."""
    table, publication, name = slot
    before = await confirmed(source_db, name)
    stream = await ReplicationConnection.open(services.source_dsn)
    try:
        await stream.start(name, publication)
        await source_db.execute(f"INSERT INTO {table} VALUES (1, 'a', '2024-01-31 12:00:00+02')")
        await source_db.execute(f"INSERT INTO {table} VALUES (2, 'b', now())")
        first, second = await read_units(stream, 2)
        assert first.records[0].new is not None and first.records[0].new.values["at"] == "2024-01-31 10:00:00+00"
        stream.send_status()
        await asyncio.sleep(0.5)
        # Received is not confirmed. (A keepalive read before any data may forward the slot over
        # WAL it had nothing to send for, e.g. other databases' writes: psycopg2's safe forward,
        # described in connectors/postgres/stream.py; never onto a received transaction.)
        now = await confirmed(source_db, name)
        assert first.end_lsn is not None and before <= now < first.end_lsn, (before, now, first.end_lsn)
        status = await pgslot.slot_status(source_db, name)
        assert status is not None and status.active and status.active_pid == stream.pid and status.reader == "protocol"
        assert first.end_lsn is not None and second.end_lsn is not None
        stream.confirm(first.end_lsn)
        for _ in range(50):
            if await confirmed(source_db, name) == first.end_lsn:
                break
            await asyncio.sleep(0.1)
        assert await confirmed(source_db, name) == first.end_lsn, "confirmed must stop at the first's end"
        stream.confirm(first.end_lsn - 1)  # never backwards
        assert stream.confirmed == first.end_lsn
    finally:
        stream.close()
    # Restarted, the stream sends the unconfirmed transaction again.
    stream = await ReplicationConnection.open(services.source_dsn)
    try:
        for _ in range(50):
            try:
                await stream.start(name, publication)
                break
            except TransientError:  # the previous walsender still holds the slot
                stream.close()
                await asyncio.sleep(0.1)
                stream = await ReplicationConnection.open(services.source_dsn)
        (again,) = await read_units(stream, 1)
        assert again.end_lsn == second.end_lsn
    finally:
        stream.close()


def _with_password(dsn: str, user: str, password: str) -> str:
    parts = urlsplit(dsn)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{quote(user)}:{quote(password, safe='')}@{host}"))


async def test_failures_are_the_connectors_errors_without_the_password(
    services: Any, source_db: asyncpg.Connection
) -> None:
    """A wrong password is PermissionDenied, a role without REPLICATION is ReplicationRefused,
    a closed port is a retriable ConnectionLost, a missing slot is SetupError; no message holds
    the password."""
    secret = "Sup3r-" + uuid.uuid4().hex
    with pytest.raises(PermissionDenied) as wrong:
        await ReplicationConnection.open(_with_password(services.source_dsn, "postgres", secret))
    assert secret not in str(wrong.value) and wrong.value.__cause__ is None

    role = f"norepl_{uuid.uuid4().hex[:8]}"
    await source_db.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{secret}'")
    try:
        with pytest.raises(ReplicationRefused) as refused:
            await ReplicationConnection.open(_with_password(services.source_dsn, role, secret))
        assert secret not in str(refused.value)
    finally:
        await source_db.execute(f"DROP ROLE {role}")

    closed = urlunsplit(urlsplit(services.source_dsn)._replace(
        netloc=urlsplit(services.source_dsn).netloc.rpartition(":")[0] + ":1"))
    with pytest.raises(ConnectionLost) as lost:
        await ReplicationConnection.open(closed, connect_timeout=2)
    assert lost.value.retriable and secret not in str(lost.value)

    stream = await ReplicationConnection.open(services.source_dsn)
    try:
        with pytest.raises(SetupError, match="does not exist"):
            await stream.start("no_such_slot_here", "no_such_publication")
    finally:
        stream.close()
    password = urlsplit(services.source_dsn).password
    assert password and password not in str(lost.value)
