"""A TRUNCATE of the captured table is reported (a metric, an error saying what to do), never
propagated as a mass delete, in both capture modes."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from structlog.testing import capture_logs

from devstack.stack import Endpoints
from streamer.capture.truncate import EVENT, advice, report_truncate
from streamer.logging import get_logger
from streamer.metrics import Metrics
from tests.streamer.capture.conftest import capture_settings, read_topic, run_capture

TRUNCATES = "streamer_capture_truncates_total"


def test_the_advice_names_the_table_and_both_ways_out() -> None:
    """The operator learns which table, that the destination still holds its leads, and the two
    ways to deal with it: delete them there deliberately, or rebuild with an export."""
    text = advice("public.leads")
    assert text.startswith("public.leads was truncated")
    assert "still holds those leads" in text
    assert "delete them there deliberately" in text and "streamer export start" in text


def test_a_truncate_is_counted_and_logged_as_an_error() -> None:
    """report_truncate adds one to the counter and logs one error with the table and the fix."""
    metrics = Metrics()
    with capture_logs() as logs:
        report_truncate(get_logger(__name__), metrics, table="public.leads", lsn="0/10")
    assert metrics.registry.get_sample_value(TRUNCATES) == 1
    assert logs == [{"event": EVENT, "log_level": "error", "table": "public.leads", "lsn": "0/10",
                     "fix": advice("public.leads"), "logger_name": __name__}]


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["replication", "notify"])
async def test_a_truncate_of_leads_is_reported_and_the_capture_goes_on(
    services: Endpoints, source_db: asyncpg.Connection, capture_table: str, unique: str, mode: str
) -> None:
    """TRUNCATE produces no event (no delete reaches the topic), is counted and logged as an
    error naming the table, and the changes after it are captured as usual."""
    settings = capture_settings(services, unique, capture_table, mode)
    metrics, stopping = Metrics(), asyncio.Event()
    with capture_logs() as logs:
        task = await run_capture(settings, stopping, metrics)
        await source_db.execute(f"INSERT INTO {capture_table} (id, tentativas_contato) VALUES (1, 0)")
        await source_db.execute(f"TRUNCATE {capture_table}")
        await source_db.execute(f"INSERT INTO {capture_table} (id, tentativas_contato) VALUES (2, 0)")
        events = await read_topic(settings.kafka, settings.kafka.leads_topic, until=lambda evs: len(evs) >= 2)
        for _ in range(50):  # the report and the last event come from the same page
            if metrics.registry.get_sample_value(TRUNCATES):
                break
            await asyncio.sleep(0.1)
        stopping.set()
        await asyncio.wait_for(task, 30)
    assert sorted((e["after"]["id"], e["op"]) for e in events) == [(1, "c"), (2, "c")]
    assert metrics.registry.get_sample_value(TRUNCATES) == 1
    (reported,) = [e for e in logs if e["event"] == EVENT]
    assert reported["log_level"] == "error" and reported["table"] == f"public.{capture_table}"
