"""Classification of PostgreSQL failures into the connector's error tree."""

from __future__ import annotations

import asyncpg
import pytest

from connectors.postgres.errors import (
    ConnectionLost,
    PermissionDenied,
    PostgresError,
    RowRejected,
    SetupError,
    TransientError,
    classify,
    translate_errors,
)


@pytest.mark.parametrize(
    ("sqlstate", "cls", "retriable"),
    [
        ("08006", ConnectionLost, True),
        ("08P01", ConnectionLost, True),
        ("57P01", ConnectionLost, True),
        ("40001", TransientError, True),
        ("40P01", TransientError, True),
        ("55006", TransientError, True),
        ("53300", TransientError, True),
        ("42501", PermissionDenied, False),
        ("28P01", PermissionDenied, False),
        ("55000", SetupError, False),
        ("42704", SetupError, False),
        ("22P02", RowRejected, False),
        ("22003", RowRejected, False),
        ("23505", RowRejected, False),
        ("23502", RowRejected, False),
        ("54000", RowRejected, False),
        ("42703", PostgresError, False),
        (None, PostgresError, False),
    ],
)
def test_classify_by_sqlstate(sqlstate: str | None, cls: type[PostgresError], retriable: bool):
    """Exact codes win over their class; a row's data errors (22*, 23*) are RowRejected; unknown
    codes are plain, non-retriable errors."""
    assert classify(sqlstate) is cls
    assert cls.retriable is retriable


def test_translate_asyncpg_server_error():
    """An asyncpg server error becomes ours, keeps its SQLSTATE and chains the original."""
    with pytest.raises(PermissionDenied) as info, translate_errors("create slot"):
        raise asyncpg.InsufficientPrivilegeError("permission denied to create slot")
    assert info.value.sqlstate == "42501" and not info.value.retriable
    assert "create slot" in str(info.value)
    assert isinstance(info.value.__cause__, asyncpg.InsufficientPrivilegeError)


@pytest.mark.parametrize(
    "exc",
    [ConnectionResetError("reset"), TimeoutError(), asyncpg.InterfaceError("connection is closed")],
)
def test_translate_connection_loss(exc: Exception):
    """Socket errors, timeouts and a closed connection become retriable ConnectionLost."""
    with pytest.raises(ConnectionLost), translate_errors("peek"):
        raise exc


def test_translate_interface_misuse_is_not_retriable():
    """asyncpg's other interface errors are programming errors, not retriable."""
    with pytest.raises(PostgresError) as info, translate_errors("peek"):
        raise asyncpg.InterfaceError("cannot perform operation: another operation is in progress")
    assert not info.value.retriable and type(info.value) is PostgresError
