"""Scratch copies of `leads` on both sides, for tests and benchmarks that must not touch the
shared table: same columns and keys, the source's tagging trigger, the destination's RLS policy,
grant and stale-write guard, and the destination's schema cache reloaded to know the copy."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from connectors.kafka.settings import KafkaSettings
from connectors.postgres import slot as slots
from connectors.postgrest.settings import DestinationSettings
from devstack.stack import Endpoints
from schemas.json_exact import loads as loads_exact
from streamer.config import Settings
from streamer.sections import SinkSettings, SourceSettings


@dataclass
class ScratchPair:
    services: Endpoints
    name: str  # a short unique suffix
    source: asyncpg.Connection
    destination: asyncpg.Connection

    @property
    def table(self) -> str:
        return f"leads_{self.name}"

    def settings(self, **sink: Any) -> Settings:
        """Settings for a capture and a sink of this pair (own slot, topic and group)."""
        s = self.services
        return Settings(
            source=SourceSettings(dsn=s.source_dsn, table=self.table, slot=f"slot_{self.name}",
                                  publication=f"pub_{self.name}", snapshot_mode="never"),
            kafka=KafkaSettings(bootstrap_servers=s.kafka_bootstrap, topic_prefix=f"t{self.name}", partitions=3),
            destination=DestinationSettings(url=s.destination_url, service_key=s.service_key,
                                            dsn=s.destination_dsn, table=self.table),
            sink=SinkSettings(group_id=f"g{self.name}", **{"linger_ms": 50, "backoff_max_ms": 2000} | sink),
        )

    async def create(self, *, destination_extra: str = "") -> None:
        t = self.table
        await self.source.execute(f"CREATE TABLE {t} (LIKE leads INCLUDING ALL)")
        await self.source.execute(f"ALTER TABLE {t} REPLICA IDENTITY FULL")
        await self.source.execute(f"CREATE TRIGGER tag BEFORE INSERT OR UPDATE ON {t} "
                                  "FOR EACH ROW EXECUTE FUNCTION leads_tag_write()")
        await self.destination.execute(f"CREATE TABLE {t} (LIKE leads INCLUDING ALL{destination_extra})")
        await self.destination.execute(f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY")
        await self.destination.execute(f"CREATE POLICY all_service ON {t} FOR ALL TO service_role "
                                       "USING (true) WITH CHECK (true)")
        await self.destination.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {t} TO service_role")
        await self.destination.execute(f"CREATE TRIGGER guard BEFORE UPDATE ON {t} "
                                       "FOR EACH ROW EXECUTE FUNCTION leads_skip_stale_update()")
        await self.reload_destination_schema()

    async def reload_destination_schema(self, column: str | None = None) -> None:
        """NOTIFY pgrst and wait until the OpenAPI document shows the table (and `column`)."""
        await self.destination.execute("NOTIFY pgrst, 'reload schema'")
        key = self.services.service_key
        async with httpx.AsyncClient(headers={"apikey": key, "Authorization": f"Bearer {key}"}) as http:
            for _ in range(100):
                doc = (await http.get(f"{self.services.postgrest_url}/")).json()
                props = doc.get("definitions", {}).get(self.table, {}).get("properties", {})
                if props and (column is None or column in props):
                    return
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.table} not in the destination's schema cache after 10 s")

    async def drop(self) -> None:
        await self.source.execute(f"DROP TABLE IF EXISTS {self.table}")
        await self.source.execute(f"DROP PUBLICATION IF EXISTS pub_{self.name}")
        await slots.drop_slot(self.source, f"slot_{self.name}")
        await self.destination.execute(f"DROP TABLE IF EXISTS {self.table}")
        await self.destination.execute("NOTIFY pgrst, 'reload schema'")

    async def rows(self, conn: asyncpg.Connection) -> dict[int, dict[str, Any]]:
        records = await conn.fetch(f"SELECT id, row_to_json(t)::text AS j FROM {self.table} t")
        # Exact numbers, comparable: a jsonb 1e400 is Decimal('1E+400') on both sides.
        return {r["id"]: loads_exact(r["j"], keep=Decimal) for r in records}

    async def admin(self, method: str, path: str, **json: Any) -> Any:
        """The PostgREST-compatible server's admin API (faults, request log)."""
        key = self.services.service_key
        base = self.services.postgrest_url.removesuffix("/rest/v1")
        async with httpx.AsyncClient(headers={"apikey": key, "Authorization": f"Bearer {key}"}) as http:
            response = await http.request(method, f"{base}/_admin/{path}", json=json or None)
            response.raise_for_status()
            return response.json() if response.content else None
