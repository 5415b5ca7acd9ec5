"""A logical replication slot read through the SQL interface, over asyncpg.

Functions from the PostgreSQL 15 manual, 9.27.6 "Replication Management Functions":
``pg_create_logical_replication_slot``, ``pg_logical_slot_peek_binary_changes`` (reads from the
slot's confirmed position without moving it), ``pg_replication_slot_advance`` (moves it), and
``pg_logical_emit_message``. Peeking returns whole transactions: the server checks the
``upto_nchanges`` limit only between WAL records, and a transaction's changes are all emitted
at its commit, so a page ends on a transaction boundary (logicalfuncs.c). Rows are pgoutput
protocol version 1 messages; decode them with ``pgoutput.decode``.

Every function takes a connection it does not own; ``connect()`` opens one with the session
settings ``pgtypes`` relies on. All asyncpg errors leave as ``errors.PostgresError``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from connectors.postgres.connections import close
from connectors.postgres.errors import (
    PermissionDenied,
    PostgresError,
    SetupError,
    invalid_dsn,
    translate_errors,
)
from connectors.postgres.lsn import format_lsn

HEARTBEAT_PREFIX = "streamer.heartbeat"

# Text output of dates and timestamps depends on these (see pgtypes): ISO 8601, in UTC.
SESSION_SETTINGS = {"DateStyle": "ISO", "TimeZone": "UTC"}
# The capture's: a role-level statement_timeout would cancel the peek of a huge transaction on
# every attempt (a livelock while the slot pins WAL), and the page's read-only transaction stays
# open while Kafka acknowledges, which an idle-in-transaction timeout would cut.
CAPTURE_SESSION = {"statement_timeout": "0", "idle_in_transaction_session_timeout": "0"}

# Who `connect()` blames for a DSN it cannot parse, when the caller does not say.
DSN_SETTINGS = "STREAMER_SOURCE__DSN (or STREAMER_DESTINATION__DSN)"

# Replication slot names: lower-case letters, digits and underscores (ReplicationSlotValidateName).
_SLOT_NAME = re.compile(r"^[a-z0-9_]{1,63}$")

_LSN_INT = "(({}) - '0/0'::pg_lsn)::bigint"  # pg_lsn → bigint; asyncpg has no pg_lsn codec


@dataclass(frozen=True, slots=True)
class PeekedChange:
    """One row of ``pg_logical_slot_peek_binary_changes``: a pgoutput message and its LSN.

    ``lsn`` is the change's LSN for row messages and the commit's end LSN for Commit."""

    lsn: int
    xid: int
    data: bytes


@dataclass(frozen=True, slots=True)
class SlotStatus:
    """A slot's row in ``pg_replication_slots`` plus how much WAL it holds back."""

    slot_name: str
    active: bool
    active_pid: int | None
    confirmed_flush_lsn: int | None
    restart_lsn: int | None
    retained_wal_bytes: int | None  # pg_current_wal_lsn() - restart_lsn
    confirmed_lag_bytes: int | None  # pg_current_wal_lsn() - confirmed_flush_lsn
    wal_status: str | None  # reserved / extended / unreserved / lost
    # Who reads it now: "protocol" (a walsender, START_REPLICATION), "sql" (a session inside
    # pg_logical_slot_*_changes), None while inactive.
    reader: str | None = None


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (for DDL, where parameters are not allowed): `"x"` always, doubling
    quotes inside, so any name is safe (the one quoting of identifiers, for DDL and printed SQL alike)."""
    if not name or "\x00" in name:
        raise ValueError(f"invalid identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def _check_slot_name(slot: str) -> None:
    if not _SLOT_NAME.match(slot):
        raise SetupError(f"invalid slot name {slot!r}: use 1-63 lower-case letters, digits or underscores")


@asynccontextmanager
async def connect(dsn: str, *, connect_timeout: float = 10.0, setting: str = DSN_SETTINGS,
                  session: Mapping[str, str] | None = None) -> AsyncIterator[asyncpg.Connection]:
    """Open a connection with ``SESSION_SETTINGS`` (and `session`) applied; close it on exit.

    A DSN asyncpg cannot parse raises ``SetupError`` naming `setting` (the variable the
    DSN came from), never the DSN: see ``errors.invalid_dsn``."""
    conn: asyncpg.Connection | None = None
    with translate_errors("connect to PostgreSQL"):
        try:
            conn = await asyncpg.connect(
                dsn,
                timeout=connect_timeout,
                server_settings={**SESSION_SETTINGS, **(session or {}), "application_name": "lead-sync-streamer"},
            )
        except ValueError:  # asyncpg's DSN parser; its message quotes the DSN (see invalid_dsn)
            pass
    if conn is None:
        raise invalid_dsn(setting)
    try:
        yield conn
    finally:
        await close(conn)


async def configure_session(conn: asyncpg.Connection) -> None:
    """Apply ``SESSION_SETTINGS`` to a connection made elsewhere (e.g. taken from a pool)."""
    with translate_errors("configure session"):
        for name, value in SESSION_SETTINGS.items():
            await conn.execute("SELECT set_config($1, $2, false)", name, value)


async def preflight(conn: asyncpg.Connection) -> None:
    """Raise a clear error unless the server and role can do logical decoding."""
    with translate_errors("preflight checks"):
        row = await conn.fetchrow(
            """SELECT current_setting('wal_level') AS wal_level,
                      current_setting('server_encoding') AS encoding,
                      current_setting('max_replication_slots')::int AS max_slots,
                      r.rolsuper, r.rolreplication
                 FROM pg_roles r WHERE r.rolname = current_user"""
        )
    assert row is not None  # current_user always has a pg_roles row
    if row["wal_level"] != "logical":
        raise SetupError(
            f"wal_level is {row['wal_level']!r}: set wal_level=logical in postgresql.conf and restart"
        )
    if row["max_slots"] < 1:
        raise SetupError("max_replication_slots is 0: raise it in postgresql.conf and restart")
    if row["encoding"] != "UTF8":
        raise SetupError(f"server_encoding is {row['encoding']}; the decoder expects UTF8")
    if not (row["rolsuper"] or row["rolreplication"]):
        raise PermissionDenied(
            "the role lacks the REPLICATION attribute needed to read a slot: "
            "ALTER ROLE <role> REPLICATION (or use a superuser)"
        )


async def ensure_publication(conn: asyncpg.Connection, publication: str, table: str, schema: str = "public") -> bool:
    """Create ``publication`` for ``schema.table`` when missing; return True if created.

    An existing publication is checked, never altered: it must publish the table whole (every
    column, no row filter) and its inserts, updates and deletes; anything less would drop
    changes silently, so it is an error saying the ALTER to run."""
    qualified = f"{quote_ident(schema)}.{quote_ident(table)}"
    with translate_errors(f"check publication {publication!r}"):
        row = await conn.fetchrow(
            """SELECT p.pubinsert, p.pubupdate, p.pubdelete,
                      (SELECT to_jsonb(t) FROM pg_publication_tables t
                        WHERE t.pubname = $1 AND t.schemaname = $2 AND t.tablename = $3) AS published,
                      (SELECT count(*) FROM pg_attribute
                        WHERE attrelid = to_regclass(format('%I.%I', $2::text, $3::text))
                          AND attnum > 0 AND NOT attisdropped) AS columns
               FROM pg_publication p WHERE p.pubname = $1""",
            publication,
            schema,
            table,
        )
    if row is not None:
        problem = publication_problem(dict(row), publication, qualified)
        if problem is not None:
            raise SetupError(problem)
        return False
    ddl = f"CREATE PUBLICATION {quote_ident(publication)} FOR TABLE {qualified}"
    try:
        with translate_errors(f"cannot create publication {publication!r} for {schema}.{table}"):
            await conn.execute(ddl)
    except PostgresError as exc:
        if exc.sqlstate == "42710":  # duplicate_object: another instance created it meanwhile
            return await ensure_publication(conn, publication, table, schema)
        raise type(exc)(f"{exc}; the table owner or a superuser can run: {ddl}", sqlstate=exc.sqlstate) from exc
    return True


def publication_problem(found: Mapping[str, Any], publication: str, qualified: str) -> str | None:
    """What keeps an existing publication from carrying every change of the table, with the fix;
    None when it carries them all. `found`: pubinsert/pubupdate/pubdelete, `published` (the
    table's pg_publication_tables row as JSON, or None) and `columns` (the table's column count)."""
    name = quote_ident(publication)
    published = found["published"]
    if published is None:
        return f"publication {publication!r} exists but does not publish {qualified}: " \
               f"ALTER PUBLICATION {name} ADD TABLE {qualified}"
    if isinstance(published, str):
        published = orjson.loads(published)
    missing = [op for op in ("insert", "update", "delete") if not found[f"pub{op}"]]
    if missing:
        return (f"publication {publication!r} does not publish {', '.join(missing)}, so those changes would be "
                f"lost: ALTER PUBLICATION {name} SET (publish = 'insert, update, delete, truncate')")
    if published.get("rowfilter"):
        return (f"publication {publication!r} publishes only the rows of {qualified} matching "
                f"{published['rowfilter']}, so the others' changes would be lost: "
                f"ALTER PUBLICATION {name} SET TABLE {qualified}")
    attnames = published.get("attnames")
    if attnames is not None and len(attnames) < found["columns"]:
        return (f"publication {publication!r} publishes only some columns of {qualified} ({', '.join(attnames)}): "
                f"ALTER PUBLICATION {name} SET TABLE {qualified}")
    return None


async def ensure_slot(conn: asyncpg.Connection, slot: str) -> bool:
    """Create logical slot ``slot`` with pgoutput when missing; return True if created.

    Creation waits for transactions running at that moment to finish (it builds a snapshot)."""
    _check_slot_name(slot)
    with translate_errors(f"check slot {slot!r}"):
        row = await conn.fetchrow(
            """SELECT plugin, slot_type, database = current_database() AS here
                 FROM pg_replication_slots WHERE slot_name = $1""",
            slot,
        )
    if row is not None:
        if row["slot_type"] != "logical" or row["plugin"] != "pgoutput" or not row["here"]:
            raise SetupError(
                f"slot {slot!r} exists but is not a pgoutput logical slot of this database "
                f"(type={row['slot_type']}, plugin={row['plugin']}); drop it or pick another name"
            )
        return False
    try:
        with translate_errors(f"create slot {slot!r}"):
            await conn.execute("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", slot)
    except PostgresError as exc:
        if exc.sqlstate == "42710":  # duplicate_object: created concurrently
            return await ensure_slot(conn, slot)
        raise
    return True


def _peek_sql() -> str:
    return f"""SELECT {_LSN_INT.format("lsn")} AS lsn, xid::text::bigint AS xid, data
                 FROM pg_logical_slot_peek_binary_changes(
                      $1, NULL, $2, 'proto_version', '1',
                      'publication_names', $3, 'messages', 'true')"""


def _peek_args(slot: str, publication: str, upto_n: int | None) -> tuple[Any, ...]:
    _check_slot_name(slot)
    # publication_names is parsed as an identifier list (SplitIdentifierString): quote it.
    return slot, upto_n, quote_ident(publication)


async def peek(conn: asyncpg.Connection, slot: str, publication: str, upto_n: int | None) -> list[PeekedChange]:
    """Read changes from the slot's confirmed position without consuming them.

    ``upto_n`` stops after the transaction in which about that many rows were reached (None:
    everything). The next peek starts at the same place until ``advance`` is called."""
    with translate_errors(f"peek slot {slot!r}"):
        rows = await conn.fetch(_peek_sql(), *_peek_args(slot, publication, upto_n))
    return [PeekedChange(r[0], r[1], r[2]) for r in rows]


async def stream_changes(
    conn: asyncpg.Connection, slot: str, publication: str, upto_n: int | None, prefetch: int = 1000
) -> AsyncIterator[PeekedChange]:
    """Like ``peek`` but through a cursor, so a huge transaction is not held in client memory.

    Holds a read-only transaction open on ``conn`` while iterating."""
    args = _peek_args(slot, publication, upto_n)
    with translate_errors(f"stream slot {slot!r}"):
        async with conn.transaction(readonly=True):
            async for r in conn.cursor(_peek_sql(), *args, prefetch=prefetch):
                yield PeekedChange(r[0], r[1], r[2])


async def advance(conn: asyncpg.Connection, slot: str, lsn: int) -> int:
    """Move the slot's confirmed position forward to ``lsn``; return the position after.

    Never moves backwards: a target at or behind the confirmed position is a no-op (the
    server would reject it). The server caps the target at its flushed WAL position."""
    _check_slot_name(slot)
    with translate_errors(f"advance slot {slot!r}"):
        current = await conn.fetchval(
            f"SELECT {_LSN_INT.format('confirmed_flush_lsn')} FROM pg_replication_slots WHERE slot_name = $1",
            slot,
        )
        if current is not None and lsn <= current:
            return int(current)
        moved = await conn.fetchval(
            f"SELECT {_LSN_INT.format('end_lsn')} FROM pg_replication_slot_advance($1, $2::text::pg_lsn)",
            slot,
            format_lsn(lsn),
        )
    return int(moved)


async def slot_status(conn: asyncpg.Connection, slot: str) -> SlotStatus | None:
    """Return the slot's state and retained WAL, or None when there is no such slot."""
    with translate_errors(f"read status of slot {slot!r}"):
        row = await conn.fetchrow(
            f"""SELECT slot_name, active, active_pid,
                       {_LSN_INT.format("confirmed_flush_lsn")} AS confirmed,
                       {_LSN_INT.format("restart_lsn")} AS restart,
                       (pg_current_wal_lsn() - restart_lsn)::bigint AS retained,
                       (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint AS lag,
                       wal_status,
                       CASE WHEN NOT s.active THEN NULL
                            WHEN a.backend_type = 'walsender' THEN 'protocol' ELSE 'sql' END AS reader
                  FROM pg_replication_slots s LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid
                 WHERE slot_name = $1""",
            slot,
        )
    if row is None:
        return None
    return SlotStatus(
        row["slot_name"],
        row["active"],
        row["active_pid"],
        row["confirmed"],
        row["restart"],
        row["retained"],
        row["lag"],
        row["wal_status"],
        row["reader"],
    )


async def drop_slot(conn: asyncpg.Connection, slot: str) -> bool:
    """Drop the slot (releasing its WAL); return False when it did not exist.

    A slot in use by another session raises ``TransientError`` (SQLSTATE 55006)."""
    with translate_errors(f"drop slot {slot!r}"):
        dropped = await conn.fetchval(
            """SELECT count(pg_drop_replication_slot(slot_name))
                 FROM pg_replication_slots WHERE slot_name = $1""",
            slot,
        )
    return bool(dropped)


async def drop_publication(conn: asyncpg.Connection, publication: str) -> None:
    """Drop the publication if it exists."""
    with translate_errors(f"drop publication {publication!r}"):
        await conn.execute(f"DROP PUBLICATION IF EXISTS {quote_ident(publication)}")


async def emit_heartbeat(conn: asyncpg.Connection) -> int:
    """Write a transactional logical message and return its LSN.

    It reaches the slot as Begin/Message/Commit even when the published table is idle, so
    the reader gets a commit ``end_lsn`` it can advance to and the slot stops pinning WAL
    (docs/cdc-failure-modes.md §2, point 1)."""
    with translate_errors("emit heartbeat"):
        lsn = await conn.fetchval(
            f"SELECT {_LSN_INT.format('pg_logical_emit_message(true, $1, now()::text)')}",
            HEARTBEAT_PREFIX,
        )
    return int(lsn)
