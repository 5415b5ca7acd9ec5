"""Fixtures for capture tests: a leads-shaped table, settings and a topic of the test's own, a
running capture, and a producer that only records what it is given."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import asyncpg
import orjson
import pytest

from connectors.kafka.client import Consumer
from connectors.kafka.settings import KafkaSettings
from connectors.postgres import slot as slots
from devstack.stack import Endpoints
from streamer.capture.component import CaptureComponent
from streamer.config import Settings
from streamer.metrics import Metrics
from streamer.sections import SourceSettings


@pytest.fixture
async def capture_table(source_db: asyncpg.Connection, unique: str) -> AsyncIterator[str]:
    """A copy of `leads` (columns, keys, replica identity) owned by this test."""
    name = f"leads_{unique}"
    await source_db.execute(f"CREATE TABLE {name} (LIKE leads INCLUDING ALL)")
    await source_db.execute(f"ALTER TABLE {name} REPLICA IDENTITY FULL")
    yield name
    await source_db.execute(f"DROP TABLE IF EXISTS {name}")
    await source_db.execute("DELETE FROM streamer_capture_state WHERE name LIKE $1", f"%{unique}%")
    await source_db.execute(f"DROP PUBLICATION IF EXISTS pub_{unique}")
    await slots.drop_slot(source_db, f"slot_{unique}")


def capture_settings(services: Endpoints, unique: str, table: str, mode: str = "replication",
                     **source: Any) -> Settings:
    return Settings(
        source=SourceSettings(dsn=services.source_dsn, table=table, capture_mode=mode,  # type: ignore[arg-type]
                              slot=f"slot_{unique}", publication=f"pub_{unique}",
                              snapshot_mode=source.pop("snapshot_mode", "never"), **source),
        kafka=KafkaSettings(bootstrap_servers=services.kafka_bootstrap, topic_prefix=f"t{unique}", partitions=3),
    )


async def read_topic(settings: KafkaSettings, topic: str, *, until: Callable[[list[dict[str, Any]]], bool],
                     seconds: float = 120) -> list[dict[str, Any]]:
    """Read the topic from the start until `until(events)` holds (or the timeout passes); the
    values as JSON, tombstones (no value) left out."""
    events: list[dict[str, Any]] = []
    async with Consumer(settings, topic, group_id=f"reader-{topic}") as consumer:
        deadline = asyncio.get_running_loop().time() + seconds
        while not until(events) and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                events.extend(orjson.loads(r.value) | {"_partition": r.partition, "_offset": r.offset}
                              for r in records if r.value is not None)
    return events


async def run_capture(settings: Settings, until_stopped: asyncio.Event,
                      metrics: Metrics | None = None) -> asyncio.Task[None]:
    """Start a capture component and return its task once it streams (slot or trigger in place)."""
    component = CaptureComponent(settings, metrics or Metrics())
    task = asyncio.create_task(component.run(until_stopped))
    for _ in range(100):
        if component.ready() or task.done():
            break
        await asyncio.sleep(0.1)
    assert component.ready(), task.exception() if task.done() else "capture not streaming after 10 s"
    return task


class RecordingProducer:
    """Stands in for `connectors.kafka.client.Producer`: every batch is acknowledged at once."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes | None, Any]] = []

    async def send_batch(self, topic: str, records: Sequence[tuple[bytes | None, bytes | None, Any]]) -> list[Any]:
        self.records.extend(records)
        return []

    def events(self) -> list[dict[str, Any]]:
        return [orjson.loads(value) for _, value, _ in self.records if value is not None]
