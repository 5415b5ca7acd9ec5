"""The connectors' one error tree: every error a connector raises is a `ConnectorError`, and its
`retriable` says what the failure means (a transient SQLSTATE or a 503 may pass, an auth failure
or a 400 will not)."""

from __future__ import annotations

import inspect
from types import ModuleType

import asyncpg
import httpx
import pytest
from aiokafka import errors as ak

from connectors import errors as root
from connectors.errors import ConnectorError
from connectors.kafka import errors as kafka
from connectors.postgres import errors as postgres
from connectors.postgres import migrations
from connectors.postgres.errors import (
    ConnectionLost,
    PermissionDenied,
    PostgresError,
    SetupError,
    TransientError,
    translate_errors,
)
from connectors.postgres.migrations import MigrationFailed, apply_to
from connectors.postgrest import errors as postgrest
from connectors.postgrest.client import PostgrestClient
from connectors.postgrest.errors import (
    PostgrestAuthError,
    PostgrestBadResponse,
    PostgrestError,
    PostgrestRejected,
    PostgrestUnavailable,
)

ERROR_MODULES = (kafka, postgres, migrations, postgrest)


def exceptions_of(module: ModuleType) -> list[type[BaseException]]:
    return [obj for _, obj in inspect.getmembers(module, inspect.isclass)
            if issubclass(obj, BaseException) and obj.__module__ == module.__name__]


@pytest.mark.parametrize("module", ERROR_MODULES, ids=lambda m: m.__name__)
def test_every_connector_error_is_a_connector_error(module: ModuleType) -> None:
    """Each exception class the connectors define descends from the one root."""
    classes = exceptions_of(module)
    assert classes
    assert [c.__name__ for c in classes if not issubclass(c, ConnectorError)] == []


def test_the_tree_in_the_docstring_names_every_class() -> None:
    """The drawing in connectors/errors.py lists every class of the tree, so it cannot fall behind."""
    drawn = root.__doc__ or ""
    names = {c.__name__ for module in ERROR_MODULES for c in exceptions_of(module)}
    assert sorted(name for name in names if name not in drawn) == []


def postgres_error(exc: Exception) -> PostgresError:
    with pytest.raises(PostgresError) as caught, translate_errors("write leads"):
        raise exc
    return caught.value


def test_a_transient_sqlstate_is_retriable() -> None:
    """A serialization failure (40001) from asyncpg leaves the connector as a retriable TransientError."""
    error = postgres_error(asyncpg.exceptions.SerializationError("could not serialize access"))
    assert isinstance(error, TransientError) and isinstance(error, ConnectorError)
    assert error.retriable and error.sqlstate == "40001"


def test_an_authentication_failure_is_not_retriable() -> None:
    """A refused password (28P01) is a PermissionDenied that no retry will fix."""
    error = postgres_error(asyncpg.exceptions.InvalidPasswordError("password authentication failed"))
    assert isinstance(error, PermissionDenied) and not error.retriable


def test_a_missing_table_is_a_setup_error_not_retriable() -> None:
    """An undefined table (42P01) asks a human to set the database up."""
    error = postgres_error(asyncpg.exceptions.UndefinedTableError('relation "leads" does not exist'))
    assert isinstance(error, SetupError) and not error.retriable and error.sqlstate == "42P01"


def test_a_failed_migration_is_a_postgres_error() -> None:
    """MigrationFailed keeps its file, role and SQLSTATE, and is reported like any connector error."""
    error = MigrationFailed("010_leads.sql", "42501", "permission denied for schema public", "app")
    assert isinstance(error, PostgresError) and not error.retriable
    assert (error.file, error.user, error.sqlstate, error.lacks_privilege) == ("010_leads.sql", "app", "42501", True)
    assert str(error) == "010_leads.sql: permission denied for schema public (SQLSTATE 42501)"


async def test_a_migration_to_a_closed_port_is_a_lost_connection() -> None:
    """Connecting to a port nobody listens on leaves `apply_to` as ConnectionLost, not as OSError."""
    with pytest.raises(ConnectionLost) as caught:
        await apply_to("postgresql://app:pw-unused@127.0.0.1:1/db", [], connect_timeout=5)
    assert caught.value.retriable and "pw-unused" not in str(caught.value)


async def postgrest_error(response: httpx.Response | Exception) -> PostgrestError:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(response, Exception):
            raise response
        return response

    async with PostgrestClient("https://gestao.example.co/rest/v1", "service-key-123",
                               transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(PostgrestError) as caught:
            await client.openapi()
    return caught.value


async def test_a_503_is_retriable() -> None:
    """PostgREST's 503 while its schema cache loads is a retriable PostgrestUnavailable."""
    error = await postgrest_error(httpx.Response(503, json={"code": "PGRST002", "message": "loading"}))
    assert isinstance(error, PostgrestUnavailable) and isinstance(error, ConnectorError) and error.retriable


async def test_a_400_is_not_retriable() -> None:
    """A request the destination refuses (400) is a PostgrestRejected: sending it again cannot help."""
    error = await postgrest_error(httpx.Response(400, json={"code": "22P02", "message": "invalid input syntax"}))
    assert isinstance(error, PostgrestRejected) and not error.retriable and error.status == 400


async def test_a_wrong_key_is_not_retriable() -> None:
    """A 401 is a PostgrestAuthError, final until someone changes the key."""
    error = await postgrest_error(httpx.Response(401, json={"code": "PGRST301", "message": "JWT invalid"}))
    assert isinstance(error, PostgrestAuthError) and not error.retriable


@pytest.mark.parametrize(("raised", "expected"), [
    (httpx.ConnectError("refused"), PostgrestUnavailable),
    (httpx.DecodingError("bad gzip"), PostgrestBadResponse),
])
async def test_httpx_errors_never_leave_the_client(raised: Exception, expected: type[PostgrestError]) -> None:
    """A transport failure and an undecodable answer leave the client as PostgREST errors, both retriable."""
    error = await postgrest_error(raised)
    assert type(error) is expected and error.retriable
    assert isinstance(error.__cause__, httpx.HTTPError)


def test_kafka_decides_retriable_per_failure() -> None:
    """aiokafka's own classification overrides the class default for one instance."""
    with pytest.raises(kafka.KafkaConnectorError) as caught, kafka.translate_kafka_errors("produce"):
        raise ak.NotLeaderForPartitionError()
    assert isinstance(caught.value, ConnectorError) and caught.value.retriable
    assert kafka.KafkaRejected("refused").retriable is False
    assert kafka.KafkaRejected("refused", retriable=True).retriable is True
