"""The validation commands facing a bad mapping file, a destination that does not answer, a
source never migrated, and credentials in the destination URL."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connectors.postgres.errors import ConnectionLost, SetupError
from streamer.cli.app import app
from streamer.errors import CheckFailed
from streamer.validation.config_check import url_check
from streamer.validation.doctor import _migrated
from streamer.validation.reload import Unanswered, wait_for_columns
from streamer.validation.report import Check, run_check

runner = CliRunner()


@pytest.mark.parametrize("command", [["validate", "schema"], ["schema", "reload-cache"], ["doctor"]])
@pytest.mark.parametrize(("content", "problem"), [("{bad\n", "Invalid JSON"), ("[1, 2]", "Input should be an object")])
def test_a_bad_mapping_file_exits_2_with_one_short_line(tmp_path: Path, command: list[str], content: str,
                                                        problem: str) -> None:
    """Exit 2, one `error:` line naming the file, the variable and the problem; no stray `error: 2`,
    no pydantic URL."""
    path = tmp_path / "mapping.json"
    path.write_text(content)
    result = runner.invoke(app, command, env={"STREAMER_SINK__MAPPING_FILE": str(path)})
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert errors[0].startswith(f"error: field mapping {path} (STREAMER_SINK__MAPPING_FILE): {problem}")
    assert "errors.pydantic.dev" not in result.output


async def test_a_destination_that_does_not_answer_ends_the_wait_at_once() -> None:
    """Two polls without any HTTP answer: CheckFailed naming the error, not 90 s blaming columns."""
    calls = {"n": 0}

    async def fetch() -> Mapping[str, Any]:
        calls["n"] += 1
        raise Unanswered("ConnectError: [Errno 111] Connection refused")

    with pytest.raises(CheckFailed) as caught:
        await wait_for_columns(fetch, "leads", ["id", "name"], timeout=90, poll=0.001)
    assert calls["n"] == 2
    assert caught.value.detail == "the destination's API does not answer: ConnectError: [Errno 111] Connection refused"
    assert "STREAMER_DESTINATION__URL" in caught.value.fix


async def test_an_answer_between_silences_restarts_the_count_and_the_last_error_is_kept() -> None:
    """A 503 (an answer) resets the count of silent polls; at the timeout the last error is reported."""
    answers: list[Exception] = [Unanswered("refused"), CheckFailed("OpenAPI answered 503 PGRST002"),
                                Unanswered("refused"), CheckFailed("OpenAPI answered 503 PGRST002")]
    ticks = iter([0.0, 1.0, 2.0, 3.0, 11.0])

    async def fetch() -> Mapping[str, Any]:
        raise answers.pop(0)

    outcome = await wait_for_columns(fetch, "leads", ["id"], timeout=10, poll=0.001, clock=lambda: next(ticks))
    assert not outcome.ok and outcome.last_error == "OpenAPI answered 503 PGRST002"


async def test_doctor_names_the_migration_for_a_missing_job_table() -> None:
    """The jobs and errors checks on a source never migrated say `streamer db migrate --target source`."""
    async def missing() -> Check:
        raise SetupError('reading export jobs: relation "public.gestao_scouter_export_jobs" does not '
                                 "exist (SQLSTATE 42P01)", sqlstate="42P01")

    async def lost() -> Check:
        raise ConnectionLost("reading export jobs: connection lost")

    check = await run_check("jobs", _migrated("jobs", missing()))
    assert check.status == "fail" and check.fix == "run `streamer db migrate --target source`"
    assert "does not exist" in check.detail
    other = await run_check("errors", _migrated("errors", lost()))
    assert other.status == "fail" and other.fix == "" and "connection lost" in other.detail


def test_url_check_never_prints_credentials_of_the_url() -> None:
    """User info and query strings are named as problems, with the password and values masked."""
    with_user = url_check("https://lead:pw-31337@abc.supabase.co", "/rest/v1", allow_http=False)
    with_query = url_check("https://abc.supabase.co/?apikey=qk-4242", "/rest/v1", allow_http=False)
    assert with_user.status == "warn" and "pw-31337" not in with_user.detail
    assert "https://lead:***@abc.supabase.co" in with_user.detail
    assert with_query.status == "fail" and "qk-4242" not in with_query.detail + with_query.fix
    assert url_check("https://abc.supabase.co", "/rest/v1", allow_http=False).detail == "https://abc.supabase.co"


@pytest.mark.parametrize("as_json", [False, True])
def test_validate_config_output_masks_the_url(as_json: bool) -> None:
    """`validate config` (table or --json) prints the destination URL without its password or query values."""
    url = "https://lead:pw-31337@abc.supabase.co/?apikey=qk-4242"
    result = runner.invoke(app, ["validate", "config", *(["--json"] if as_json else [])],
                           env={"STREAMER_DESTINATION__URL": url})
    assert result.exit_code == 1, result.output
    assert "pw-31337" not in result.output and "qk-4242" not in result.output
    if as_json:  # the table wraps its cells
        assert "https://lead:***@abc.supabase.co/?apikey=***" in result.output
