"""Job ids given to the CLI against a real source: matched as a prefix, never as a LIKE pattern,
and data holding Rich markup printed as it is."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import asyncpg
import pytest

from devstack.stack import Endpoints
from streamer.state import store
from streamer.state.errors import JobNotFound

pytestmark = pytest.mark.integration

MARKUP = "null value in column [/b] violates [red]not-null[/red] constraint"


@pytest.fixture
async def two_jobs(source_db: asyncpg.Connection, migrated: None, jobs: list[str]) -> tuple[str, str]:
    """Two paused jobs whose ids share their first 8 characters; the first has a failed lead."""
    prefix = secrets.token_hex(4)
    ids = (f"{prefix}-0000-4000-8000-{secrets.token_hex(6)}", f"{prefix}-1111-4000-8000-{secrets.token_hex(6)}")
    for job_id in ids:
        await source_db.execute("INSERT INTO gestao_scouter_export_jobs (id, status, created_by, error_message) "
                                "VALUES ($1::uuid, 'paused', 'pytest', $2)", job_id, MARKUP)
        jobs.append(job_id)
    await source_db.execute("INSERT INTO gestao_scouter_export_errors (job_id, lead_id, error_message, "
                            "response_status) VALUES ($1::uuid, 1, $2, 400)", ids[0], MARKUP)
    return ids


async def test_a_prefix_finds_one_job_and_an_ambiguous_one_is_refused(
    source_db: asyncpg.Connection, two_jobs: tuple[str, str],
) -> None:
    """A prefix shared by two jobs asks for more of the id; one more character picks the job (any case)."""
    first, _ = two_jobs
    with pytest.raises(JobNotFound, match="several jobs"):
        await store.get_job(source_db, first[:8])
    assert (await store.get_job(source_db, first[:10].upper())).id == first
    assert (await store.get_job(source_db, first)).id == first


@pytest.mark.parametrize("pattern", ["", "%", "{mid}%", "%{mid}%", "{head}_"])
async def test_like_wildcards_and_an_empty_id_match_nothing(
    source_db: asyncpg.Connection, two_jobs: tuple[str, str], pattern: str,
) -> None:
    """`%`, `_` and "" are refused (ValueError) rather than matching some job."""
    first, _ = two_jobs
    with pytest.raises(ValueError, match="job id"):
        await store.get_job(source_db, pattern.format(mid=first[9:13], head=first[:7]))


async def test_a_fragment_from_the_middle_of_an_id_is_not_a_prefix(
    source_db: asyncpg.Connection, two_jobs: tuple[str, str],
) -> None:
    """Valid hex from inside the id finds nothing: only the start of an id matches."""
    with pytest.raises(JobNotFound, match="no job"):
        await store.get_job(source_db, two_jobs[0][19:27])


def cli(services: Endpoints, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_")} | {
        "STREAMER_SOURCE__DSN": services.source_dsn, "COLUMNS": "400"}
    return subprocess.run([sys.executable, "-m", "streamer", *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


async def test_errors_and_jobs_print_markup_in_their_data_as_text(
    services: Endpoints, two_jobs: tuple[str, str],
) -> None:
    """`errors list|show` and `jobs show|list` print a message holding `[/b]` and `[red]` literally, exit 0."""
    first, _ = two_jobs
    listed = cli(services, "errors", "list", "--job", first)
    assert listed.returncode == 0, listed.stderr
    assert "[/b] violates [red]not-null[/red]" in listed.stdout
    error_id = next(line.split()[1] for line in listed.stdout.splitlines() if first[:8] in line)
    shown = cli(services, "errors", "show", error_id)
    job = cli(services, "jobs", "show", first)
    listing = cli(services, "jobs", "list", "--status", "paused", "--limit", "500")
    for result in (shown, job, listing):
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    assert MARKUP in shown.stdout and MARKUP in job.stdout and first[:8] in listing.stdout
