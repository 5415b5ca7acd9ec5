"""Session-wide fixtures: the real services every integration test talks to."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import hypothesis  # noqa: F401  (see below)
import pytest

from connectors.kafka.settings import KafkaSettings
from devstack.stack import Endpoints
from tests.services import find_services
from tests.streamer.sink.pipeline import Pipeline

# hypothesis is imported here, at collection, on purpose: its pytest plugin otherwise imports it
# lazily in the terminal summary of runs that did not use it, and CPython 3.11.7's AST builder
# can then fail with "AST constructor recursion depth mismatch" (python/cpython#106905, fixed in
# 3.11.8) while pytest rewrites hypothesis' modules, turning a finished run into an INTERNALERROR.


@pytest.fixture(scope="session")
def services() -> Iterator[Endpoints]:
    """PostgreSQL (source, destination), Kafka and the PostgREST-compatible server."""
    with find_services() as endpoints:
        yield endpoints


@pytest.fixture
def unique() -> str:
    """A short random suffix, so each test owns its topics, slots, groups and tables."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def fresh_db(services: Endpoints, unique: str) -> AsyncIterator[str]:
    """The DSN of an empty database on the source server, dropped (with its sessions) afterwards."""
    name = f"t_{unique}"
    admin = await asyncpg.connect(services.source_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(services.source_dsn)._replace(path=f"/{name}"))
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
def kafka_settings(services: Endpoints) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=services.kafka_bootstrap, partitions=3)


@pytest.fixture
async def source_db(services: Endpoints) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(services.source_dsn)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def jobs(source_db: asyncpg.Connection) -> AsyncIterator[list[str]]:
    """Append the ids of export jobs a test creates: they, their error rows and audit entries are
    deleted after it."""
    ids: list[str] = []
    yield ids
    for job_id in ids:
        await source_db.execute("DELETE FROM gestao_scouter_export_errors WHERE retry_job_id = $1::uuid", job_id)
        await source_db.execute("DELETE FROM streamer_audit_log WHERE job_id = $1::uuid", job_id)
        await source_db.execute("DELETE FROM gestao_scouter_export_jobs WHERE id = $1::uuid", job_id)


@pytest.fixture
async def destination_db(services: Endpoints) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(services.destination_dsn)
    try:
        yield conn
    finally:
        await conn.close()


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
