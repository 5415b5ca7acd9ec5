"""Commands of `streamer` meeting bad input or unreachable servers: one `error:` line, the right
exit code, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import typer
from typer.testing import CliRunner, Result

from connectors.postgres.errors import ConnectionLost, SetupError
from devstack.stack import Endpoints
from streamer.cli.app import app, reported

runner = CliRunner()
UNREACHABLE_SOURCE = "postgresql://lead_sync:pw-unused@127.0.0.1:1/tabuladormax"


def invoke(*args: str, **env: str) -> Result:
    return runner.invoke(app, list(args), env=env)


def assert_one_error_line(result: Result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in errors[0]


@pytest.mark.parametrize("args", [["slot", "status"], ["slot", "drop", "--yes"]])
def test_slot_commands_report_an_unreachable_source_in_one_line(args: list[str]) -> None:
    """A source that refuses the connection is an `error:` line naming the connection, exit 1."""
    result = invoke(*args, STREAMER_SOURCE__DSN=UNREACHABLE_SOURCE)
    assert_one_error_line(result, 1, "connect to PostgreSQL")
    assert "pw-unused" not in result.output


def test_mapping_show_names_a_missing_mapping_file() -> None:
    """A configured mapping file that does not exist: exit 2 naming the file and the variable."""
    result = invoke("mapping", "show", STREAMER_SINK__MAPPING_FILE="/nonexistent/mapping.json")
    assert_one_error_line(result, 2, "/nonexistent/mapping.json", "STREAMER_SINK__MAPPING_FILE",
                          "No such file or directory")


@pytest.mark.parametrize(("content", "problem"), [
    ("{bad\n", "Invalid JSON"),
    ("[1, 2]", "Input should be an object"),
    ('{"fieldMappings": {"celular": 5}}', "fieldMappings.celular: Input should be a valid string"),
])
def test_mapping_show_says_shortly_why_a_mapping_file_is_refused(tmp_path: Path, content: str, problem: str) -> None:
    """Bad JSON or a wrong shape: exit 2, the file and pydantic's message without its URL or the input."""
    path = tmp_path / "mapping.json"
    path.write_text(content)
    result = invoke("mapping", "show", STREAMER_SINK__MAPPING_FILE=str(path))
    assert_one_error_line(result, 2, str(path), problem)
    assert "errors.pydantic.dev" not in result.output and "input_value" not in result.output


@pytest.mark.parametrize(("target", "problem"), [
    ("/nonexistent-dir/x.json", "directory /nonexistent-dir does not exist"),
    ("{tmp}", "is a directory"),
])
def test_mapping_export_refuses_a_path_it_cannot_write(tmp_path: Path, target: str, problem: str) -> None:
    """`mapping export` to a missing directory or onto a directory: exit 2 saying which."""
    result = invoke("mapping", "export", target.format(tmp=tmp_path))
    assert_one_error_line(result, 2, problem)


def test_mapping_export_writes_the_file(tmp_path: Path) -> None:
    """The happy path still works: the identity mapping is written."""
    result = invoke("mapping", "export", str(tmp_path / "m.json"))
    assert result.exit_code == 0, result.output
    assert '"fieldMappings"' in (tmp_path / "m.json").read_text()


def test_a_missing_table_gets_the_migration_command() -> None:
    """A relation that does not exist (SQLSTATE 42P01) is reported with `streamer db migrate --target source`."""
    with pytest.raises(typer.Exit) as caught, reported():
        raise SetupError('list jobs: relation "public.gestao_scouter_export_jobs" does not exist '
                                 "(SQLSTATE 42P01)", sqlstate="42P01")
    assert caught.value.exit_code == 1
    with pytest.raises(typer.Exit) as lost, reported():
        raise ConnectionLost("connect to PostgreSQL: refused")
    assert lost.value.exit_code == 1


def test_the_missing_table_message_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    """The `error:` line holds the server's message and the fix."""
    with pytest.raises(typer.Exit), reported():
        raise SetupError('relation "x" does not exist', sqlstate="42P01")
    assert capsys.readouterr().err.strip() == ('error: relation "x" does not exist: '
                                               "run `streamer db migrate --target source`")


def test_run_with_its_port_taken_exits_2_before_starting_anything(tmp_path: Path) -> None:
    """`streamer run` on a port in use: exit 2, `port N is in use`, no component started, no traceback."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_")} | {
            "STREAMER_HTTP__PORT": str(port), "STREAMER_LOG__FORMAT": "json"}
        proc = subprocess.run([sys.executable, "-m", "streamer", "run"], env=env, capture_output=True, text=True,
                              timeout=60, check=False, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"error: port {port} is in use: set STREAMER_HTTP__PORT" in proc.stderr
    assert "service started" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.integration
@pytest.mark.parametrize("args", [["slot", "status"], ["slot", "drop", "--yes"]])
def test_slot_commands_report_a_wrong_password_in_one_line(services: Endpoints, args: list[str]) -> None:
    """Authentication refused by the source: an `error:` line (SQLSTATE 28P01), exit 1, password not shown."""
    parts = urlsplit(services.source_dsn)
    wrong = parts._replace(netloc=f"{parts.username}:not-the-password-77@{parts.hostname}:{parts.port}").geturl()
    result = invoke(*args, STREAMER_SOURCE__DSN=wrong, STREAMER_SOURCE__SLOT=f"never_{os.getpid()}")
    assert_one_error_line(result, 1, "password authentication failed")
    assert "not-the-password-77" not in result.output


@pytest.mark.parametrize("command", ["dev", "demo"])
def test_the_development_tools_are_not_product_commands(command: str) -> None:
    """The local stack and the demo are `python -m devstack ...` (tests/devstack/test_cli.py)."""
    result = invoke(command, "--help")
    assert result.exit_code == 2 and "No such command" in result.output


def test_config_show_has_no_dev_section() -> None:
    """The stack's settings (`STREAMER_DEV__*`) are the dev tools' own, not the product's."""
    result = invoke("config", "show", STREAMER_DEV__DIR="/tmp/elsewhere")
    assert result.exit_code == 0, result.output
    assert '"dev"' not in result.output and "/tmp/elsewhere" not in result.output
