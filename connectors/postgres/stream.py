"""A logical slot read through the streaming replication protocol, driven from the asyncio loop.

    conn = await ReplicationConnection.open(dsn)          # a walsender: the slot shows its pid
    await conn.start(slot, publication)                    # START_REPLICATION SLOT ... LOGICAL 0/0
    while ...:
        for lsn, data in conn.read_available(1000):       # pgoutput v1 messages (pgoutput.decode)
            ...
        await asyncio.wait_for(conn.wait_readable(), 1.0)
        conn.confirm(acked_lsn)                            # standby status update: flushed = acked

The client is psycopg2's ``LogicalReplicationConnection``: psycopg 3 does not speak the protocol
(psycopg/psycopg#71 is open; 3.3 only lets START_REPLICATION run, with no CopyBoth reading or
status updates) and asyncpg has no CopyBoth mode. Its ``read_message()`` never blocks, so the
socket is watched with ``loop.add_reader`` and no thread is needed (PostgreSQL 15 manual,
55.4 "Streaming Replication Protocol": XLogData 'w', Primary keepalive 'k', Standby status
update 'r'). Keepalives are answered inside ``read_message()``: one asking for a reply gets the
current status at once.

What the status update carries is the caller's business, with one rule this module enforces:
only what downstream acknowledged is ever confirmed, never what was received. psycopg2 adds a
convenience that breaks that rule in one case, and ``may_read`` closes it: on a keepalive it moves
the flushed position to the server's WAL end by itself when the last explicitly confirmed LSN is
at or past the start of the last message received. With interleaved transactions, a transaction
that began before an already confirmed commit sends messages whose start lies behind that commit;
a keepalive read while such a message is the last one, and while an earlier *complete*
transaction is still unacknowledged, would confirm that transaction. So a caller reads only when
``may_read(unacked_complete)`` says so, and otherwise waits for its acknowledgements first. A
forward done at a safe moment (nothing complete unacknowledged: every transaction committed
before the WAL end was sent before the keepalive, and acknowledged) stays safe.

Sessions get ``DateStyle=ISO`` and ``TimeZone=UTC`` like ``slot.connect``: pgoutput sends each
column as its type's text output, which depends on them (pgtypes). psycopg2 errors never leave
this module; they become ``errors.PostgresError`` (a refused replication connection,
``ReplicationRefused``, is told apart so the caller can fall back to the SQL interface).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.extras

from connectors.postgres.errors import (
    ConnectionLost,
    PermissionDenied,
    PostgresError,
    ReplicationRefused,
    SetupError,
    from_sqlstate,
    invalid_dsn,
)
from connectors.postgres.slot import DSN_SETTINGS, SESSION_SETTINGS, quote_ident
from connectors.redaction import scrub

APPLICATION_NAME = "lead-sync-streamer"

# What libpq says when the server refuses a replication connection it would accept as a plain
# one: no replication line in pg_hba.conf, a role without REPLICATION, no walsender slot free.
_REFUSED = re.compile(r"pg_hba\.conf (entry for|rejects) replication connection"
                      r"|must be superuser or replication role|max_wal_senders", re.I)
_AUTH = re.compile(r"authentication failed|no pg_hba\.conf entry|permission denied|password", re.I)
_MISSING = re.compile(r"does not exist", re.I)


def _secrets(dsn: str) -> list[str]:
    try:
        password = psycopg2.extensions.parse_dsn(dsn).get("password")
    except psycopg2.Error:
        return []
    return [password] if password else []


def _connect_error(action: str, text: str) -> PostgresError:
    """A connection-time failure: libpq gives no SQLSTATE then, only its message."""
    if _REFUSED.search(text):
        return ReplicationRefused(f"{action}: {text}")
    if _AUTH.search(text):
        return PermissionDenied(f"{action}: {text}")
    if _MISSING.search(text):
        return SetupError(f"{action}: {text}")
    return ConnectionLost(f"{action}: {text}")


@contextmanager
def _translated(action: str, secrets: list[str], *, connecting: bool = False) -> Iterator[None]:
    """psycopg2's errors as ours, passwords scrubbed (libpq does not quote one, but a DSN may)."""
    try:
        yield
    except PostgresError:
        raise
    except psycopg2.Error as exc:
        text = scrub(str(exc).strip(), secrets)
        code = exc.pgcode
        if code:
            raise from_sqlstate(code, f"{action}: {text} (SQLSTATE {code})") from None
        if isinstance(exc, psycopg2.InterfaceError) or not connecting:
            raise ConnectionLost(f"{action}: {text}") from None
        raise _connect_error(action, text) from None
    except OSError as exc:
        raise ConnectionLost(f"{action}: {type(exc).__name__}: {exc}") from None


def _session_options(existing: str | None) -> str:
    ours = " ".join(f"-c {name}={value}" for name, value in SESSION_SETTINGS.items())
    return f"{existing} {ours}" if existing else ours


class ReplicationConnection:
    """One replication connection (a walsender on the server) streaming one logical slot."""

    def __init__(self, conn: Any, secrets: list[str]) -> None:
        self._conn = conn
        self._cursor: Any = conn.cursor()
        self._secrets = secrets
        self.pid: int = conn.get_backend_pid()
        self.slot: str | None = None
        self.confirmed = 0  # the highest LSN sent as flushed (psycopg2's explicitly_flushed_lsn)
        self.last_data_start = 0  # the start LSN of the last XLogData message received

    @classmethod
    async def open(cls, dsn: str, *, connect_timeout: float = 10.0, setting: str = DSN_SETTINGS
                   ) -> ReplicationConnection:
        """Connect in replication mode (``replication=database``), on a worker thread: libpq's
        connect blocks. A DSN libpq cannot parse raises ``invalid_dsn(setting)``, never the DSN."""
        secrets = _secrets(dsn)
        try:
            params = psycopg2.extensions.parse_dsn(dsn)
        except psycopg2.Error:
            raise invalid_dsn(setting) from None

        def connect() -> Any:
            with _translated("open a replication connection", secrets, connecting=True):
                return psycopg2.connect(
                    dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection,
                    connect_timeout=max(1, int(connect_timeout)), application_name=APPLICATION_NAME,
                    options=_session_options(params.get("options")))

        return cls(await asyncio.to_thread(connect), secrets)

    async def start(self, slot: str, publication: str, *, start_lsn: int = 0, status_interval: float = 10.0) -> None:
        """START_REPLICATION SLOT `slot` LOGICAL `start_lsn` (proto_version '1', publication_names,
        messages 'true'); 0 starts at the slot's confirmed position. psycopg2 also sends the
        current status by itself every `status_interval` seconds while ``read_available`` runs."""
        self.slot = slot

        def start() -> None:
            with _translated(f"start replication from slot {slot!r}", self._secrets):
                # publication_names is parsed as an identifier list (SplitIdentifierString): quote it.
                self._cursor.start_replication(
                    slot_name=slot, slot_type=psycopg2.extras.REPLICATION_LOGICAL, start_lsn=start_lsn, decode=False,
                    options={"proto_version": "1", "publication_names": quote_ident(publication),
                             "messages": "true"},
                    status_interval=status_interval)

        await asyncio.to_thread(start)

    def fileno(self) -> int:
        return int(self._conn.fileno())

    @property
    def wal_end(self) -> int:
        """The server's WAL end from the last message or keepalive (0 before any)."""
        return int(self._cursor.wal_end or 0)

    def may_read(self, unacked_complete: bool) -> bool:
        """Whether reading now is safe: False while a keepalive could make psycopg2 confirm a
        complete transaction not yet acknowledged (see the module's docstring)."""
        return not (unacked_complete and self.confirmed >= self.last_data_start)

    def read_available(self, limit: int) -> list[tuple[int, bytes]]:
        """Up to `limit` XLogData payloads already received, as (data_start, pgoutput bytes);
        never blocks. Keepalives met on the way are handled (and answered when asked)."""
        out: list[tuple[int, bytes]] = []
        read = self._cursor.read_message
        with _translated(f"read slot {self.slot!r}", self._secrets):
            while len(out) < limit:
                message = read()
                if message is None:
                    break
                out.append((message.data_start, message.payload))
        if out:
            self.last_data_start = out[-1][0]
        return out

    async def wait_readable(self) -> None:
        """Return once the socket has data (wrap it in a timeout; cancelling it is safe)."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        fd = self.fileno()

        def readable() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(fd, readable)
        try:
            await ready
        finally:
            loop.remove_reader(fd)

    def confirm(self, lsn: int) -> None:
        """Send a standby status update with `lsn` as written, flushed and applied: only ever a
        position downstream acknowledged. Never moves backwards. (Written stays at the flushed
        position too: a walsender sends its idle keepalives only while both lag its WAL end.)"""
        if lsn <= self.confirmed:
            return
        with _translated(f"confirm position on slot {self.slot!r}", self._secrets):
            self._cursor.send_feedback(write_lsn=lsn, flush_lsn=lsn, apply_lsn=lsn, force=True)
        self.confirmed = lsn

    def send_status(self) -> None:
        """Send the current status again (keeps the walsender from timing us out while we do not
        read, e.g. while Kafka is slow)."""
        with _translated(f"send status on slot {self.slot!r}", self._secrets):
            self._cursor.send_feedback(force=True)

    def close(self) -> None:
        if not self._conn.closed:
            self._conn.close()

    @property
    def closed(self) -> bool:
        return bool(self._conn.closed)
