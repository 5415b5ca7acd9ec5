"""Errors of the PostgreSQL connector; asyncpg's and psycopg2's errors never leave this package.

    PostgresError                 root (a ``connectors.errors.ConnectorError``); ``retriable``
                                  says whether retrying may help
    ├── ConnectionLost            retriable: the socket or the server went away (08*, 57P01-3)
    ├── TransientError            retriable: serialization failure, deadlock, slot busy, ...
    ├── PermissionDenied          not retriable: 42501, 28* (authentication)
    │   └── ReplicationRefused    the server takes this role's SQL sessions but refuses its
    │                             replication connections (pg_hba.conf, REPLICATION, max_wal_senders)
    ├── SetupError                not retriable: wal_level, missing object, 55000, a DSN
    │                             asyncpg cannot parse (``invalid_dsn``), ...
    ├── RowRejected               not retriable: one row's values broke a rule (22*, 23*, 54000)
    ├── DecodeError               not retriable: pgoutput bytes that break the protocol
    └── MigrationFailed           not retriable: a shipped SQL file failed (``migrations``)

Classification is by SQLSTATE class, as asyncpg and the PostgreSQL manual's Appendix A
("PostgreSQL Error Codes") define them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from connectors.errors import ConnectorError


class PostgresError(ConnectorError):
    """Root of the connector's errors; its class (and so `retriable`) follows the SQLSTATE."""

    def __init__(self, message: str, *, sqlstate: str | None = None, retriable: bool | None = None) -> None:
        super().__init__(message, retriable=retriable)
        self.sqlstate = sqlstate


class ConnectionLost(PostgresError):
    """The connection or the server went away; reconnect and retry."""

    retriable = True


class TransientError(PostgresError):
    """A failure that a later attempt may not meet (serialization, deadlock, slot in use)."""

    retriable = True


class PermissionDenied(PostgresError):
    """The role lacks a privilege or failed to authenticate; retrying will not help."""


class ReplicationRefused(PermissionDenied):
    """A replication connection (the streaming protocol, ``stream.py``) was refused: pg_hba.conf
    has no replication line for this host and role, the role lacks REPLICATION, or the server
    has no walsender free (max_wal_senders). The SQL interface may still read the slot."""


class SetupError(PostgresError):
    """The server or its objects are not set up as required (or a setting names them wrongly);
    a human has to act. The service's own settings problems are ``streamer.errors.ConfigError``."""


class RowRejected(PostgresError):
    """The values of a row broke a rule of the table (a constraint, a type, a range).

    Unlike the other non-retriable errors this one belongs to the data, not to the setup: a
    writer of many rows can find the culprits by writing them one at a time, and go on."""


class DecodeError(PostgresError):
    """Bytes that do not follow the pgoutput protocol (or one we do not speak)."""


# SQLSTATE → class. Exact codes are checked before two-character classes.
_EXACT: dict[str, type[PostgresError]] = {
    "40001": TransientError,  # serialization_failure
    "40P01": TransientError,  # deadlock_detected
    "55006": TransientError,  # object_in_use: the slot is active in another process
    "55P03": TransientError,  # lock_not_available
    "57014": TransientError,  # query_canceled (statement_timeout)
    "57P01": ConnectionLost,  # admin_shutdown
    "57P02": ConnectionLost,  # crash_shutdown
    "57P03": ConnectionLost,  # cannot_connect_now (starting up / recovery)
    "42501": PermissionDenied,  # insufficient_privilege
    "55000": SetupError,  # object_not_in_prerequisite_state (e.g. wal_level)
    "42704": SetupError,  # undefined_object (e.g. a slot that does not exist)
    "42P01": SetupError,  # undefined_table
    "3D000": SetupError,  # invalid_catalog_name (database does not exist)
    "54000": RowRejected,  # program_limit_exceeded: e.g. a value too large for an index row
}
_CLASSES: dict[str, type[PostgresError]] = {
    "08": ConnectionLost,  # connection_exception
    "22": RowRejected,  # data_exception: a value out of range, an invalid date, text in a number
    "23": RowRejected,  # integrity_constraint_violation: not null, check, unique, foreign key
    "28": PermissionDenied,  # invalid_authorization_specification
    "53": TransientError,  # insufficient_resources (too many connections, disk full)
    "58": TransientError,  # system_error (I/O error)
}


def classify(sqlstate: str | None) -> type[PostgresError]:
    """Return our error class for a SQLSTATE; unknown codes are not retriable."""
    if not sqlstate:
        return PostgresError
    return _EXACT.get(sqlstate) or _CLASSES.get(sqlstate[:2]) or PostgresError


def from_sqlstate(sqlstate: str | None, message: str) -> PostgresError:
    """Build the error for a SQLSTATE and a server message."""
    return classify(sqlstate)(message, sqlstate=sqlstate)


def invalid_dsn(setting: str) -> SetupError:
    """The error for a DSN that asyncpg cannot parse, naming `setting` and never the DSN.

    asyncpg's own message quotes the piece it failed on, and with an unencoded `/`, `?` or `#`
    in the password that piece is part of the password ("invalid literal for int() with base
    10: 's3cr'"); so the message here is fixed, and callers raise it outside the `except`
    block, so no traceback carries the original either."""
    return SetupError(
        f"{setting} is not a valid PostgreSQL URL (postgresql://user:password@host:port/database): "
        "percent-encode special characters in the user name and password ('/' as %2F, '?' as %3F, "
        "'#' as %23, '@' as %40, ':' as %3A, '%' as %25); the value is not shown, as it holds a password")


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Re-raise asyncpg, socket and timeout errors as ``PostgresError`` naming ``action``."""
    try:
        yield
    except PostgresError:
        raise
    except asyncpg.PostgresError as exc:
        sqlstate = getattr(exc, "sqlstate", None)
        raise from_sqlstate(sqlstate, f"{action}: {exc} (SQLSTATE {sqlstate})") from exc
    except (TimeoutError, OSError) as exc:
        raise ConnectionLost(f"{action}: {type(exc).__name__}: {exc}") from exc
    except asyncpg.InternalClientError as exc:
        # asyncpg's protocol out of step with the server: seen when the server ends a session in
        # the middle of an operation ("cannot switch to state 12; another operation (2) is in
        # progress"). The connection cannot be used again; a new one can.
        raise ConnectionLost(f"{action}: {type(exc).__name__}: {exc}") from exc
    except asyncpg.InterfaceError as exc:
        # asyncpg says "connection is closed" through InterfaceError; its other InterfaceErrors
        # (e.g. "another operation is in progress") are programming errors, not retriable.
        lost = "closed" in str(exc)
        cls = ConnectionLost if lost else PostgresError
        raise cls(f"{action}: {exc}") from exc
