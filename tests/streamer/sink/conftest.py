from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from streamer.devstack.stack import Endpoints
from tests.streamer.sink.pipeline import Pipeline


@pytest.fixture
async def pipeline(services: Endpoints, unique: str, source_db: asyncpg.Connection,
                   destination_db: asyncpg.Connection) -> AsyncIterator[Pipeline]:
    """A source table, a destination table, a slot, a topic and a group owned by the test."""
    p = Pipeline(services, unique, source_db, destination_db)
    await p.create()
    try:
        yield p
    finally:
        await p.drop()
