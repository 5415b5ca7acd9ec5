"""`streamer check`: can we reach the source, Kafka and the destination with these settings?

Each part is one probe; a probe that finds its part not as the sync needs it raises `CheckFailed`,
and `run_checks` turns whatever a probe raises into that part's failed row."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import httpx

from connectors.kafka.client import Admin
from connectors.kafka.settings import replication_problem
from connectors.postgres.connections import close
from connectors.postgrest.client import PostgrestClient
from connectors.postgrest.keys import role_of
from streamer.config import Settings
from streamer.errors import CheckFailed


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


async def check_source(settings: Settings) -> str:
    conn = await asyncpg.connect(settings.source.dsn.get_secret_value(), timeout=10)
    try:
        wal_level = await conn.fetchval("SELECT current_setting('wal_level')")
        version = await conn.fetchval("SHOW server_version")
        table = await conn.fetchval("SELECT to_regclass($1)::text",
                                    f"{settings.source.schema_name}.{settings.source.table}")
    finally:
        await close(conn)
    problems = []
    if wal_level != "logical" and settings.source.capture_mode == "replication":
        problems.append(f"wal_level is {wal_level}, replication capture needs logical")
    if table is None:
        problems.append("table leads missing: run `streamer db migrate --target source`")
    if problems:
        raise CheckFailed("; ".join(problems))
    return f"PostgreSQL {version}, wal_level={wal_level}"


async def check_kafka(settings: Settings) -> str:
    async with Admin(settings.kafka) as admin:
        cluster = await admin.describe_cluster()
    brokers = len(cluster.get("brokers", []))
    problem = replication_problem(settings.kafka.replication_factor, brokers)
    if problem:
        raise CheckFailed(problem)
    return f"{brokers} broker(s), cluster {cluster.get('cluster_id')}"


async def check_destination(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> str:
    """The API root answers the key with an OpenAPI document that shows the table."""
    dest = settings.destination
    if dest.service_key is None or not dest.service_key.get_secret_value():
        raise CheckFailed("no service key: set STREAMER_DESTINATION__SERVICE_KEY")
    key = dest.service_key.get_secret_value()
    if role_of(key) not in (None, "service_role"):
        raise CheckFailed(f"the key's role is {role_of(key)!r}: use the service_role key, not the anon key")
    async with PostgrestClient.from_settings(dest, transport=transport) as client:
        response = await client.request("GET", "")
    if response.status_code != 200:
        raise CheckFailed(f"GET /rest/v1/ answered {response.status_code}")
    if dest.table not in response.json().get("definitions", {}):
        raise CheckFailed(f"table {dest.table} not visible to service_role (missing, or no grant)")
    return f"{dest.rest_url} answers, table {dest.table} visible"


async def run_checks(settings: Settings) -> list[CheckResult]:
    checks: list[tuple[str, Callable[[Settings], Awaitable[str]]]] = [
        ("source", check_source), ("kafka", check_kafka), ("destination", check_destination)]

    async def one(name: str, check: Callable[[Settings], Awaitable[str]]) -> CheckResult:
        try:
            return CheckResult(name, True, await asyncio.wait_for(check(settings), timeout=30))
        except Exception as exc:  # a report, not a command: any failure (ours, a driver's) is its part's row
            return CheckResult(name, False, f"{type(exc).__name__}: {exc}")

    return list(await asyncio.gather(*(one(n, c) for n, c in checks)))
