"""A pipeline of our own for sink tests: a leads-shaped table on each side, a topic, a group,
and helpers to run the capture and the sink in-process and to compare both sides."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import orjson

from connectors.postgres import slot as slots
from streamer.capture.component import CaptureComponent
from streamer.config import DestinationSettings, KafkaSettings, Settings, SinkSettings, SourceSettings
from streamer.devstack.stack import Endpoints
from streamer.metrics import Metrics
from streamer.sink.component import SinkComponent


@dataclass
class Pipeline:
    services: Endpoints
    unique: str
    source: asyncpg.Connection
    destination: asyncpg.Connection

    @property
    def table(self) -> str:
        return f"leads_{self.unique}"

    def settings(self, **sink: Any) -> Settings:
        s = self.services
        return Settings(
            source=SourceSettings(dsn=s.source_dsn, table=self.table, slot=f"slot_{self.unique}",
                                  publication=f"pub_{self.unique}", snapshot_mode="never"),
            kafka=KafkaSettings(bootstrap_servers=s.kafka_bootstrap, topic_prefix=f"t{self.unique}", partitions=3),
            destination=DestinationSettings(url=s.destination_url, service_key=s.service_key,
                                            dsn=s.destination_dsn, table=self.table),
            sink=SinkSettings(group_id=f"g{self.unique}", **{"linger_ms": 50, "backoff_max_ms": 2000} | sink),
        )

    async def create(self) -> None:
        t = self.table
        await self.source.execute(f"CREATE TABLE {t} (LIKE leads INCLUDING ALL)")
        await self.source.execute(f"ALTER TABLE {t} REPLICA IDENTITY FULL")
        await self.source.execute(f"CREATE TRIGGER tag BEFORE INSERT OR UPDATE ON {t} "
                                  "FOR EACH ROW EXECUTE FUNCTION leads_tag_write()")
        await self.destination.execute(f"CREATE TABLE {t} (LIKE leads INCLUDING ALL)")
        await self.destination.execute(f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY")
        await self.destination.execute(f"CREATE POLICY all_service ON {t} FOR ALL TO service_role "
                                       "USING (true) WITH CHECK (true)")
        await self.destination.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {t} TO service_role")
        await self.destination.execute(f"CREATE TRIGGER guard BEFORE UPDATE ON {t} "
                                       "FOR EACH ROW EXECUTE FUNCTION leads_skip_stale_update()")
        await self.reload_destination_schema()

    async def reload_destination_schema(self, column: str | None = None) -> None:
        await self.destination.execute("NOTIFY pgrst, 'reload schema'")
        key = self.services.service_key
        async with httpx.AsyncClient(headers={"apikey": key, "Authorization": f"Bearer {key}"}) as http:
            for _ in range(100):
                doc = (await http.get(f"{self.services.postgrest_url}/")).json()
                props = doc.get("definitions", {}).get(self.table, {}).get("properties", {})
                if props and (column is None or column in props):
                    return
                await asyncio.sleep(0.1)
        raise AssertionError(f"{self.table} not in the destination's schema cache")

    async def drop(self) -> None:
        await self.source.execute(f"DROP TABLE IF EXISTS {self.table}")
        await self.source.execute(f"DROP PUBLICATION IF EXISTS pub_{self.unique}")
        await slots.drop_slot(self.source, f"slot_{self.unique}")
        await self.destination.execute(f"DROP TABLE IF EXISTS {self.table}")
        await self.destination.execute("NOTIFY pgrst, 'reload schema'")

    async def rows(self, conn: asyncpg.Connection) -> dict[int, dict[str, Any]]:
        records = await conn.fetch(f"SELECT id, row_to_json(t)::text AS j FROM {self.table} t")
        return {r["id"]: orjson.loads(r["j"]) for r in records}

    async def converged(self, *, seconds: float = 120, ignore: set[int] = frozenset()) -> tuple[dict, dict]:  # type: ignore[assignment]
        """Wait until the destination equals the source (minus `ignore`d ids); return both sides."""
        deadline = time.monotonic() + seconds
        while True:
            src = {k: v for k, v in (await self.rows(self.source)).items() if k not in ignore}
            dst = {k: v for k, v in (await self.rows(self.destination)).items() if k not in ignore}
            if src == dst or time.monotonic() > deadline:
                return src, dst
            await asyncio.sleep(0.5)

    async def admin(self, method: str, path: str, **json: Any) -> Any:
        key = self.services.service_key
        base = self.services.postgrest_url.removesuffix("/rest/v1")
        async with httpx.AsyncClient(headers={"apikey": key, "Authorization": f"Bearer {key}"}) as http:
            response = await http.request(method, f"{base}/_admin/{path}", json=json or None)
            response.raise_for_status()
            return response.json() if response.content else None


@asynccontextmanager
async def running(settings: Settings, *, capture: bool = True, sink: bool = True) -> AsyncIterator[Metrics]:
    """Capture and sink running in this process until the block ends (then drained)."""
    metrics, stopping = Metrics(), asyncio.Event()
    components: list[Any] = ([CaptureComponent(settings, metrics)] if capture else []) + (
        [SinkComponent(settings, metrics)] if sink else [])
    tasks = [asyncio.create_task(c.run(stopping)) for c in components]
    for _ in range(200):
        if all(c.ready() for c in components) or any(t.done() for t in tasks):
            break
        await asyncio.sleep(0.05)
    for task in tasks:
        if task.done():
            task.result()
    try:
        yield metrics
    finally:
        stopping.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
