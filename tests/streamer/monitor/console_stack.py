"""A stack of the console's own for its browser tests: a fresh source database (migrated: its own
jobs, errors and audit tables, so no other test's exporter takes its jobs), a scratch leads table
on both sides (devstack/scratch.py), and `streamer run` with the sink, the exporter and the
monitor on it, with a field mapping file and an admin token."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import orjson

from connectors.postgres.migrations import apply_to
from devstack.scratch import ScratchPair
from devstack.stack import Endpoints
from schemas.sql_files import migration_files
from tests.streamer.monitor.processes import REPO, Service, free_port, streamer_run, wait_ready

TOKEN = "console-browser-test-token-0123456789"
SCREENSHOTS = REPO / "docs" / "screenshots"


@dataclass
class ConsoleStack:
    service: Service
    pair: ScratchPair
    source: asyncpg.Connection  # the fresh source database
    destination: asyncpg.Connection
    mapping_file: Path

    @property
    def table(self) -> str:
        return self.pair.table

    async def insert_leads(self, first_id: int, n: int, day: datetime, **columns: Any) -> list[int]:
        """n leads created on `day` (UTC), with the given column values."""
        ids = list(range(first_id, first_id + n))
        names = ["id", "name", "criado", "updated_at", *columns]
        rows = [(i, f"Lead {i}", day, day, *columns.values()) for i in ids]
        marks = ", ".join(f"${k + 1}" for k in range(len(names)))
        await self.source.executemany(f"INSERT INTO {self.table} ({', '.join(names)}) VALUES ({marks})", rows)
        return ids

    async def destination_ids(self) -> set[int]:
        return {r["id"] for r in await self.destination.fetch(f"SELECT id FROM {self.table}")}

    async def api(self, method: str, path: str, body: Any = None) -> Any:
        """The console's API with the admin token, as the page calls it."""
        async with httpx.AsyncClient(base_url=self.service.url, timeout=120) as client:
            response = await client.request(method, path, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code < 300, response.text
        return response.json()

    async def wait_job(self, job_id: str, status: str = "completed", seconds: float = 90) -> asyncpg.Record:
        deadline = time.monotonic() + seconds
        while True:
            row = await self.source.fetchrow("SELECT * FROM gestao_scouter_export_jobs WHERE id = $1::uuid", job_id)
            if row is not None and row["status"] == status:
                return row
            assert time.monotonic() < deadline, f"job {job_id} not {status}: {dict(row) if row else None}\n" \
                                                f"{self.service.output()}"
            await asyncio.sleep(0.3)


def database_url(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


@asynccontextmanager
async def console_stack(services: Endpoints, unique: str, home: Path) -> AsyncIterator[ConsoleStack]:
    name = f"t_{unique}"
    admin = await asyncpg.connect(services.source_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = database_url(services.source_dsn, name)
    source = destination = None
    pair = None
    try:
        await apply_to(dsn, migration_files("source"))
        source = await asyncpg.connect(dsn)
        destination = await asyncpg.connect(services.destination_dsn)
        pair = ScratchPair(services, unique, source, destination)
        await pair.create()
        mapping = home / "mapping.json"
        mapping.write_bytes(orjson.dumps({"fieldMappings": {}, "unmappedColumns": "pass"}))
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_")}
        env.update({
            "STREAMER_SOURCE__DSN": dsn,
            "STREAMER_SOURCE__TABLE": pair.table,
            "STREAMER_KAFKA__BOOTSTRAP_SERVERS": services.kafka_bootstrap,
            "STREAMER_KAFKA__TOPIC_PREFIX": f"t{unique}",
            "STREAMER_KAFKA__PARTITIONS": "1",
            "STREAMER_DESTINATION__URL": services.destination_url,
            "STREAMER_DESTINATION__SERVICE_KEY": services.service_key,
            "STREAMER_DESTINATION__DSN": services.destination_dsn,
            "STREAMER_DESTINATION__TABLE": pair.table,
            "STREAMER_SINK__GROUP_ID": f"g{unique}",
            "STREAMER_SINK__LINGER_MS": "50",
            "STREAMER_SINK__BACKOFF_MAX_MS": "2000",
            "STREAMER_SINK__MAPPING_FILE": str(mapping),
            "STREAMER_HISTORY__POLL_SECONDS": "0.5",
            "STREAMER_HISTORY__OPERATOR": "pytest",
            "STREAMER_VALIDATION__CACHE_DIR": str(home / "cache"),
            "STREAMER_VALIDATION__RELOAD_TIMEOUT_SECONDS": "30",
            "STREAMER_MONITOR__ADMIN_TOKEN": TOKEN,
            "STREAMER_HTTP__PORT": str(free_port()),
            "STREAMER_RUN__COMPONENTS": orjson.dumps(["sink", "exporter", "monitor"]).decode(),
            "STREAMER_RUN__SHUTDOWN_GRACE_SECONDS": "10",
            "STREAMER_LOG__FORMAT": "json",
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
        })
        with streamer_run(env, home / "streamer.log") as service:
            await wait_ready(service, 90)
            yield ConsoleStack(service, pair, source, destination, mapping)
    finally:
        if pair is not None:
            await destination.execute(f"DROP TABLE IF EXISTS {pair.table}")  # type: ignore[union-attr]
            await destination.execute("NOTIFY pgrst, 'reload schema'")  # type: ignore[union-attr]
        for conn in (source, destination):
            if conn is not None:
                await conn.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def day(year: int, month: int, d: int) -> datetime:
    return datetime(year, month, d, 12, tzinfo=UTC)
