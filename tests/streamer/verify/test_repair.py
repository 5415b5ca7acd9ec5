"""`streamer verify --repair` against real services: the retry job it files re-lands what is missing
or different through Kafka and the sink, extra leads go only when asked, and verify then finds nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import asyncpg
import pytest
import structlog
from typer.testing import CliRunner

from devstack.stack import Endpoints
from streamer.cli.app import app
from streamer.history.runner import run_job
from streamer.metrics import Metrics
from streamer.sink.component import land_burst
from streamer.verify.component import VerifyComponent
from streamer.verify.repair import verify_and_repair
from streamer.verify.run import verify
from tests.streamer.sink.pipeline import running
from tests.streamer.verify.conftest import FIRST_ID, Pair

pytestmark = pytest.mark.integration


async def plant_repairable(pair: Pair) -> None:
    """At the destination: lead +5 deleted, lead +1234 an older version, lead 99 extra."""
    p, t = pair.pipeline, pair.pipeline.table
    await p.destination.execute(f"DELETE FROM {t} WHERE id = $1", FIRST_ID + 5)
    await p.destination.execute(f"ALTER TABLE {t} DISABLE TRIGGER guard")  # it refuses older versions
    await p.destination.execute(f"UPDATE {t} SET updated_at = updated_at - interval '1 second', name = 'old' "
                                f"WHERE id = $1", FIRST_ID + 1234)
    await p.destination.execute(f"ALTER TABLE {t} ENABLE TRIGGER guard")
    await p.destination.execute(f"INSERT INTO {t} (id, name, updated_at) VALUES (99, 'only here', now())")


async def test_repair_relands_missing_and_different_leads(pair: Pair, source_db: asyncpg.Connection,
                                                          jobs: list[str]) -> None:
    """The repair job re-lands the missing and the older lead; the extra one stays without --delete-extra."""
    await plant_repairable(pair)
    result, repair, deleted = await verify_and_repair(pair.settings, actor="pytest")
    assert repair.job is not None and deleted == 0
    jobs.append(repair.job.id)
    assert repair.filed == {"missing": 1, "different": 1} and result.found.extra == 1
    rows = await source_db.fetch("SELECT lead_id, error_message FROM gestao_scouter_export_errors "
                                 "WHERE retry_job_id = $1::uuid ORDER BY lead_id", repair.job.id)
    assert [(r["lead_id"], r["error_message"]) for r in rows] == [
        (FIRST_ID + 5, "verify: missing at the destination"), (FIRST_ID + 1234, "verify: different at the destination")]

    async with running(pair.settings, capture=False):
        outcome = await run_job(pair.settings, Metrics(), repair.job, asyncio.Event(), land=land_burst)
    assert outcome == "completed"
    found = (await verify(pair.settings)).found
    assert (found.missing, found.extra, found.different) == (0, 1, 0)
    assert await source_db.fetchval("SELECT count(*) FROM gestao_scouter_export_errors WHERE retry_job_id = $1::uuid",
                                    repair.job.id) == 0


async def test_delete_extra_removes_only_what_the_source_lacks(pair: Pair, source_db: asyncpg.Connection,
                                                               jobs: list[str]) -> None:
    """With --delete-extra the destination-only lead is deleted and audited; equal leads file no job."""
    p = pair.pipeline
    await p.destination.execute(f"INSERT INTO {p.table} (id, name, updated_at) VALUES (99, 'only here', now())")
    result, repair, deleted = await verify_and_repair(pair.settings, actor="pytest", delete_extras=True)
    assert (result.found.extra, deleted, repair.job) == (1, 1, None)
    assert await p.destination.fetchval(f"SELECT count(*) FROM {p.table} WHERE id = 99") == 0
    audited = await source_db.fetchval("SELECT parameters::text FROM streamer_audit_log WHERE action = "
                                       "'verify.delete_extra' AND parameters->>'table' = $1", p.table)
    assert audited is not None and '"first_ids": [99]' in audited
    await source_db.execute("DELETE FROM streamer_audit_log WHERE parameters->>'table' = $1", p.table)
    assert (await verify(pair.settings)).found.total == 0


@pytest.fixture
def cli_env(pair: Pair, services: Endpoints, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pair]:
    """The environment `streamer` reads, naming the pair's tables."""
    for name, value in {
        "STREAMER_SOURCE__DSN": services.source_dsn, "STREAMER_SOURCE__TABLE": pair.pipeline.table,
        "STREAMER_DESTINATION__URL": services.destination_url,
        "STREAMER_DESTINATION__SERVICE_KEY": services.service_key,
        "STREAMER_DESTINATION__DSN": services.destination_dsn, "STREAMER_DESTINATION__TABLE": pair.pipeline.table,
        "STREAMER_KAFKA__BOOTSTRAP_SERVERS": services.kafka_bootstrap,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("STREAMER_CONFIG_FILE", raising=False)
    yield pair
    structlog.reset_defaults()  # the command logged to CliRunner's stream, closed by now


def test_cli_exits_0_on_equal_tables(cli_env: Pair) -> None:
    """`streamer verify` on equal tables prints zero differences and exits 0."""
    result = CliRunner().invoke(app, ["verify"])
    assert result.exit_code == 0, result.output
    assert "missing (source only)" in result.output


@pytest.fixture
async def planted(cli_env: Pair) -> Pair:
    p = cli_env.pipeline
    await p.destination.execute(f"DELETE FROM {p.table} WHERE id = $1", FIRST_ID + 7)
    return cli_env


def test_cli_exits_1_and_names_the_ids_when_tables_differ(planted: Pair) -> None:
    """A lead missing at the destination is printed by id and the command exits 1."""
    result = CliRunner().invoke(app, ["verify", "--show", "5"])
    assert result.exit_code == 1, result.output
    assert str(FIRST_ID + 7) in result.output


def test_cli_usage_errors_exit_2(cli_env: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    """--delete-extra without --repair, columns with the rows reading (which cannot hash them), id
    as a column, and --run-here without --repair exit 2."""
    for args, reading in ((["verify", "--delete-extra"], "auto"), (["verify", "--columns", "name"], "rows"),
                          (["verify", "--columns", "id"], "auto"), (["verify", "--run-here"], "auto")):
        monkeypatch.setenv("STREAMER_VERIFY__DESTINATION_READ", reading)
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "error:" in result.output or "config:" in result.output


async def test_scheduled_run_sets_the_metrics(pair: Pair) -> None:
    """A due fire time runs a verification and sets the mismatch gauges and the last-run time."""
    await pair.pipeline.destination.execute(f"DELETE FROM {pair.pipeline.table} WHERE id = $1", FIRST_ID + 9)
    metrics = Metrics()
    component = VerifyComponent(pair.with_verify(schedule="* * * * *"), metrics)
    result = await component.tick(datetime.now(UTC))
    assert result is not None and result.found.missing == 1
    sample = metrics.registry.get_sample_value
    assert sample("streamer_verify_mismatched_leads", {"kind": "missing"}) == 1
    assert sample("streamer_verify_mismatched_leads", {"kind": "extra"}) == 0
    assert (sample("streamer_verify_last_run_timestamp_seconds") or 0) > 0
    assert await component.tick(datetime.now(UTC)) is None or component.runs == 2  # one run per fire time
