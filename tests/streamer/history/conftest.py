"""Fixtures for history tests: leads of a year of their own, settings with a topic of their own,
and a stand-in for the sink's progress report (`record_outcomes`) where the sink is not the point."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest

from connectors.kafka.client import Admin, Consumer
from connectors.kafka.settings import KafkaSettings
from connectors.postgres.migrations import apply_to
from connectors.postgrest.settings import DestinationSettings
from devstack.stack import Endpoints
from schemas.debezium import decode_key
from schemas.event import header
from schemas.sql_files import migration_files
from streamer.config import Settings
from streamer.sections import HistorySettings, SourceSettings
from streamer.state import store
from streamer.state.progress import record_outcomes
from streamer.state.store import Job


@dataclass
class Leads:
    """Leads inserted for one test: ids from a random large base, `criado` in a year of their own
    (in the past: an export's range is capped at the job's start)."""

    first_id: int
    year: int
    ids: list[int] = field(default_factory=list)

    @property
    def start(self) -> date:
        return date(self.year, 1, 1)


@pytest.fixture(scope="session")
async def migrated(services: Endpoints) -> None:
    await apply_to(services.source_dsn, migration_files("source"))


def history_settings(services: Endpoints, unique: str, **history: Any) -> Settings:
    return Settings(
        source=SourceSettings(dsn=services.source_dsn),
        kafka=KafkaSettings(bootstrap_servers=services.kafka_bootstrap, topic_prefix=f"t{unique}", partitions=3),
        destination=DestinationSettings(url=services.destination_url, service_key=services.service_key,
                                        dsn=services.destination_dsn),
        history=HistorySettings(operator="pytest", poll_seconds=0.2, **history),
    )


@pytest.fixture
async def leads(source_db: asyncpg.Connection, migrated: None) -> AsyncIterator[Callable[..., Any]]:
    """`await leads(n, days=...)`: insert n leads spread over the first `days` days of a fresh year,
    three leads per timestamp (so pages split ties on id). Deletes them and their jobs afterwards."""
    made: list[Leads] = []

    async def insert(n: int, *, days: int = 10) -> Leads:
        batch = Leads(random.randrange(10**12, 10**15), random.randrange(1100, 1900))
        step = timedelta(days=days) / max(1, n // 3 + 1)
        await source_db.execute(
            "INSERT INTO leads (id, name, etapa, criado, updated_at) SELECT $1::bigint + g, 'Lead ' || g, 'novo', "
            "$2::timestamptz + (g / 3) * $3::interval, $2::timestamptz + (g / 3) * $3::interval "
            "FROM generate_series(0, $4 - 1) g", batch.first_id, datetime(batch.year, 1, 1, tzinfo=UTC), step, n)
        batch.ids = [batch.first_id + i for i in range(n)]
        made.append(batch)
        return batch

    yield insert
    for batch in made:
        await source_db.execute("DELETE FROM leads WHERE id >= $1 AND id < $2", batch.first_id,
                                batch.first_id + len(batch.ids))


async def wait_for(check: Callable[[], Any], *, seconds: float = 60, every: float = 0.05) -> Any:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met in {seconds} s")
        await asyncio.sleep(every)


async def job_now(conn: asyncpg.Connection, job: Job) -> Job:
    return await store.get_job(conn, job.id)


async def read_events(settings: KafkaSettings, topic: str, *, count: int, seconds: float = 60) -> list[dict[str, Any]]:
    """Read the topic from the start until `count` events arrived; each gets `_headers`, `_partition`."""
    events: list[dict[str, Any]] = []
    async with Consumer(settings, topic, group_id=f"reader-{topic}-{random.random()}") as consumer:
        deadline = asyncio.get_running_loop().time() + seconds
        while len(events) < count and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                events.extend(orjson.loads(r.value) | {"_headers": list(r.headers), "_partition": r.partition,
                                                       "_offset": r.offset} for r in records)
        # a little longer: anything beyond `count` would be a duplicate worth seeing
        for records in (await consumer.getmany(timeout_ms=500)).values():
            events.extend(orjson.loads(r.value) | {"_headers": list(r.headers), "_partition": r.partition,
                                                   "_offset": r.offset} for r in records)
    return events


class FakeSink:
    """Stands in for the sink's report: reads the topic and calls `record_outcomes` per job,
    failing the leads in `fail` (the real sink is tested in test_export_e2e.py)."""

    def __init__(self, settings: KafkaSettings, dsn: str, fail: set[int] | None = None) -> None:
        self.settings, self.dsn, self.fail = settings, dsn, fail or set()
        self.seen: list[int] = []

    async def run(self, stopping: asyncio.Event) -> None:
        # Subscribe to a topic that exists: a consumer that looked before the runner created it
        # may not see it until its next metadata refresh (minutes).
        async with Admin(self.settings) as admin:
            await admin.ensure_topic(self.settings.leads_topic)
        conn = await asyncpg.connect(self.dsn)
        try:
            async with Consumer(self.settings, self.settings.leads_topic, group_id=f"fake-{random.random()}") as c:
                while not stopping.is_set():
                    for records in (await c.getmany(timeout_ms=200)).values():
                        await self._report(conn, records)
        finally:
            await conn.close()

    async def _report(self, conn: asyncpg.Connection, records: list[Any]) -> None:
        by_job: dict[tuple[str, int | None], tuple[list[int], list[int]]] = {}
        for r in records:
            job_id = header(list(r.headers), "job_id")
            generation = header(list(r.headers), "job_generation")
            lead = decode_key(r.key)
            self.seen.append(lead)
            if job_id:
                landed, failed = by_job.setdefault((job_id, None if generation is None else int(generation)),
                                                   ([], []))
                (failed if lead in self.fail else landed).append(lead)
        for (job_id, generation), (landed, failed) in by_job.items():
            # Like the sink: a run a reset replaced neither counts nor files its failures.
            recorded = await record_outcomes(conn, job_id, landed=landed, failed=failed, generation=generation)
            if failed and recorded:
                await conn.execute(
                    "INSERT INTO gestao_scouter_export_errors (job_id, lead_id, error_message, response_status) "
                    "SELECT $1::uuid, unnest($2::bigint[]), 'fake failure', 400", job_id, failed)
