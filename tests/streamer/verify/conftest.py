"""A scratch pair of lead tables (the `pipeline` fixture) filled with the same leads on both sides."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from connectors.postgres.migrations import apply_to
from devstack.stack import Endpoints
from schemas.sql_files import migration_files
from streamer.config import Settings
from streamer.sections import HistorySettings, VerifySettings
from tests.streamer.sink.pipeline import Pipeline

LEADS = 3000
FIRST_ID = 10_000
# The same rows on both sides: ids FIRST_ID.., updated_at a microsecond-precise instant per lead,
# two at infinity and -infinity (hashed by token, not by text).
FILL = ("INSERT INTO {t} (id, name, etapa, criado, updated_at) SELECT g, 'Lead ' || g, 'novo', "
        "timestamptz '2021-03-04 05:06:07.123456+00' + g * interval '1.000001 second', "
        "CASE WHEN g = {first} THEN '-infinity'::timestamptz WHEN g = {first} + 1 THEN 'infinity'::timestamptz "
        "ELSE timestamptz '2022-01-01 00:00:00.654321-03' + g * interval '1.000003 second' END "
        "FROM generate_series({first}, {first} + {n} - 1) g")


@dataclass
class Pair:
    pipeline: Pipeline
    settings: Settings

    def with_verify(self, **verify: object) -> Settings:
        return self.settings.model_copy(update={"verify": VerifySettings(**verify)})  # type: ignore[arg-type]


@pytest.fixture(scope="session")
async def verify_migrated(services: Endpoints) -> None:
    """Both databases have the verify functions (and the source its job tables)."""
    await apply_to(services.source_dsn, migration_files("source"))
    await apply_to(services.destination_dsn, migration_files("destination"))


@pytest.fixture
async def pair(pipeline: Pipeline, verify_migrated: None) -> AsyncIterator[Pair]:
    """The same LEADS leads in a scratch table on each side; settings that name those tables."""
    for conn in (pipeline.source, pipeline.destination):
        await conn.execute(FILL.format(t=pipeline.table, first=FIRST_ID, n=LEADS))
    settings = pipeline.settings().model_copy(update={"history": HistorySettings(operator="pytest", poll_seconds=0.2)})
    yield Pair(pipeline, settings)
