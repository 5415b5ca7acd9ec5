"""`reported()`, the one place a command's error becomes an `error:` line and an exit code: each
root (`ConnectorError`, `StreamerError`) gives one line, 2 for usage and configuration, else 1."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import typer

from connectors.errors import ConnectorError
from connectors.kafka.errors import KafkaUnavailable
from connectors.postgres.errors import ConnectionLost, SetupError
from connectors.postgres.migrations import MigrationFailed
from connectors.postgrest.errors import PostgrestAuthError, PostgrestUnavailable
from streamer.cli.common import reported
from streamer.errors import CheckFailed, ConfigError, MigrationError, StreamerError
from streamer.service import PortUnavailable
from streamer.state.errors import JobNotFound

CLI = Path(__file__).resolve().parents[2] / "streamer" / "cli"


def report(exc: Exception, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    with pytest.raises(typer.Exit) as caught, reported():
        raise exc
    return int(caught.value.exit_code), capsys.readouterr().err.splitlines()


@pytest.mark.parametrize(("exc", "line"), [
    (ConnectionLost("connect to PostgreSQL: refused"), "error: connect to PostgreSQL: refused"),
    (MigrationFailed("010_leads.sql", "42501", "permission denied", "app"),
     "error: 010_leads.sql: permission denied (SQLSTATE 42501)"),
    (KafkaUnavailable("consuming: Kafka unavailable (KafkaConnectionError)"),
     "error: consuming: Kafka unavailable (KafkaConnectionError)"),
    (PostgrestUnavailable("reading the OpenAPI document: HTTP 503 PGRST002: loading", status=503),
     "error: reading the OpenAPI document: HTTP 503 PGRST002: loading"),
    (PostgrestAuthError("reading leads: HTTP 401: JWT invalid", status=401),
     "error: reading leads: HTTP 401: JWT invalid"),
    (ConnectorError("any connector's failure"), "error: any connector's failure"),
])
def test_a_connector_error_is_one_line_and_exit_1(exc: ConnectorError, line: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Errors of all three connectors (and the root itself) print their message once and exit 1."""
    assert report(exc, capsys) == (1, [line])


@pytest.mark.parametrize(("exc", "line"), [
    (StreamerError("job 6f1c is being run by another process"), "error: job 6f1c is being run by another process"),
    (JobNotFound("no job 6f1c"), "error: no job 6f1c"),
    (MigrationError("source: cannot connect to the source database: ConnectionRefusedError"),
     "error: source: cannot connect to the source database: ConnectionRefusedError"),
    (CheckFailed("/rpc/reload answered 404", "install the function"),
     "error: /rpc/reload answered 404. Fix: install the function"),
    (CheckFailed("the destination's API does not answer"), "error: the destination's API does not answer"),
])
def test_a_streamer_error_is_one_line_and_exit_1(exc: StreamerError, line: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """The service's own errors print their message (a failed check its fix too) and exit 1."""
    assert report(exc, capsys) == (1, [line])


@pytest.mark.parametrize(("exc", "line"), [
    (ConfigError(["STREAMER_SINK__MAPPING_FILE: not found", "STREAMER_HTTP__PORT: not a port"]),
     "error: STREAMER_SINK__MAPPING_FILE: not found; STREAMER_HTTP__PORT: not a port"),
    (PortUnavailable("port 8080 is in use: set STREAMER_HTTP__PORT"),
     "error: port 8080 is in use: set STREAMER_HTTP__PORT"),
    (ValueError("--to (2024-01-01) is before --from (2024-02-01)"),
     "error: --to (2024-01-01) is before --from (2024-02-01)"),
])
def test_usage_and_configuration_errors_exit_2(exc: Exception, line: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Bad settings (their problems joined by `; `), a port in use and a bad argument exit 2."""
    assert report(exc, capsys) == (2, [line])


def test_a_missing_table_gets_the_migration_command(capsys: pytest.CaptureFixture[str]) -> None:
    """SQLSTATE 42P01 adds `run streamer db migrate --target source` to the line."""
    code, lines = report(SetupError('relation "x" does not exist', sqlstate="42P01"), capsys)
    assert (code, lines) == (1, ['error: relation "x" does not exist: run `streamer db migrate --target source`'])


def test_urls_in_the_line_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    """A message quoting a URL shows neither its password nor its query values."""
    _, lines = report(PostgrestUnavailable("GET https://u:pw-9@h.example/rest/v1/?apikey=k-9: refused"), capsys)
    assert lines == ["error: GET https://u:***@h.example/rest/v1/?apikey=***: refused"]


def test_anything_else_is_a_bug_and_keeps_its_traceback() -> None:
    """An error of neither root is not turned into a line: it propagates."""
    with pytest.raises(KeyError), reported():
        raise KeyError("bug")


def test_no_command_catches_exception() -> None:
    """No module of streamer/cli has `except Exception` or a bare `except`: commands use `reported()`
    or name the errors they expect."""
    found = []
    for path in sorted(CLI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ExceptHandler) and (node.type is None or (
                    isinstance(node.type, ast.Name) and node.type.id in ("Exception", "BaseException"))):
                found.append(f"{path.name}:{node.lineno}")
    assert found == []
