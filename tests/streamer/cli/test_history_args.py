"""The history commands' argument checks, without any server."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from typer.testing import CliRunner

from streamer.cli.app import app
from streamer.cli.history import ExportRequest, ReplayRequest, job_ref, parse_time
from streamer.history.backup import backup_name
from streamer.sections import HistorySettings

runner = CliRunner()


def test_export_request_parses_dates_and_field() -> None:
    """ISO dates and one of the two date fields make a request."""
    assert ExportRequest.parse("2024-01-01", "2024-01-31", "updated_at") == ExportRequest(
        date(2024, 1, 1), date(2024, 1, 31), "updated_at")


@pytest.mark.parametrize(("start", "end", "field", "message"), [
    ("2024-01-32", "2024-02-01", "criado", "--from"),
    ("2024-02-01", "2024-01-01", "criado", "before"),
    ("2024-01-01", "2024-01-02", "id", "--date-field"),
])
def test_export_request_refuses_bad_input_naming_the_option(start: str, end: str, field: str, message: str) -> None:
    """A bad date, a reversed range or an unknown field is refused with the option's name."""
    with pytest.raises(ValueError, match=message):
        ExportRequest.parse(start, end, field)


def test_naive_times_are_read_in_the_configured_zone() -> None:
    """`2024-05-02T00:00` in São Paulo is 03:00 UTC; an explicit offset wins."""
    ms = parse_time("2024-05-02T00:00", "America/Sao_Paulo", "--from-time")
    assert ms == int(datetime(2024, 5, 2, 3, tzinfo=UTC).timestamp() * 1000)
    assert parse_time("2024-05-02T00:00Z", "America/Sao_Paulo", "--from-time") == ms - 3 * 3600 * 1000


def test_replay_request_needs_exactly_one_start() -> None:
    """--from-time and --from-offsets exclude each other, and one is needed."""
    with pytest.raises(ValueError, match="exactly one"):
        ReplayRequest.parse(None, None, None, "UTC")
    with pytest.raises(ValueError, match="exactly one"):
        ReplayRequest.parse("2024-01-01", None, "0:1", "UTC")
    assert ReplayRequest.parse(None, None, "0:5,1:6", "UTC").from_offsets == {0: 5, 1: 6}


def test_replay_request_refuses_an_end_before_the_start() -> None:
    """--to-time before --from-time is a usage error."""
    with pytest.raises(ValueError, match="before"):
        ReplayRequest.parse("2024-05-02", "2024-05-01", None, "UTC")


@pytest.mark.parametrize("args", [
    ["export", "start", "--from", "2024-13-01", "--to", "2024-01-01"],
    ["replay"],
    ["replay", "--from-time", "yesterday"],
    ["errors", "retry"],
    ["errors", "purge", "--older-than", "ninety days", "--yes"],
])
def test_bad_arguments_exit_2_before_touching_any_server(args: list[str]) -> None:
    """Usage errors are caught by the pure checks: exit code 2 and an `error:` line."""
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "error:" in result.output


def test_history_settings_refuse_a_bad_cron_or_zone() -> None:
    """A schedule that is not a cron expression, or an unknown zone, is a config error."""
    with pytest.raises(ValueError, match="cron"):
        HistorySettings(schedule="every day")
    with pytest.raises(ValueError, match="time zone"):
        HistorySettings(timezone="Mars/Olympus")
    assert HistorySettings(schedule="0 3 * * *").schedule == "0 3 * * *"
    assert HistorySettings().operator


def test_backup_table_names_are_timestamped() -> None:
    """The backup is `leads_backup_<UTC timestamp>`."""
    assert backup_name("leads", datetime(2024, 5, 2, 3, 4, 5, tzinfo=UTC)) == "leads_backup_20240502_030405"


@pytest.mark.parametrize("text", ["6f1c", "6F1C1E0E", "6f1c1e0e-0000-4000-8000-000000000001"])
def test_a_job_id_prefix_of_4_or_more_hex_characters_is_accepted(text: str) -> None:
    """Hex digits and dashes, 4 or more, lower-cased for the prefix match."""
    assert job_ref(text) == text.lower()


@pytest.mark.parametrize("text", ["", "6f1", "%9ba82%", "9ba8_", "6f1c%", "zzzz", "6f1c 1e0e", "x" * 40])
def test_a_job_id_that_is_no_prefix_is_refused(text: str) -> None:
    """Empty, too short, or holding LIKE wildcards or other characters: ValueError naming the option."""
    with pytest.raises(ValueError, match="--job: expected a job id or its first 4"):
        job_ref(text, "--job")


@pytest.mark.parametrize("args", [
    ["jobs", "cancel", "%9ba82%"],
    ["jobs", "show", ""],
    ["jobs", "reset", "", "--yes"],
    ["jobs", "pause", "ab"],
    ["jobs", "resume", "_"],
    ["jobs", "follow", "%"],
    ["errors", "list", "--job", "%"],
    ["errors", "retry", "--job", "", "--all"],
])
def test_a_bad_job_id_exits_2_before_touching_any_server(args: list[str]) -> None:
    """A job id that is not a 4+ character hex prefix is a usage error, whatever the command."""
    result = runner.invoke(app, args, env={"STREAMER_SOURCE__DSN": "postgresql://u:p@127.0.0.1:1/none"})
    assert result.exit_code == 2, result.output
    assert "error: job id" in result.output or "error: --job" in result.output
    assert "connect to PostgreSQL" not in result.output
