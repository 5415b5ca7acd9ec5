"""The local stack's endpoints (from the environment `python -m devstack env` exports), scratch
table pairs, and writing sample leads to the source."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import orjson

from benchkit import REPO
from devstack.demo.generator import INSERT, leads
from devstack.scratch import ScratchPair
from devstack.stack import Endpoints

__all__ = ["INSERT", "REPO", "leads"]

NEEDED = ("STREAMER_SOURCE__DSN", "STREAMER_DESTINATION__DSN", "STREAMER_DESTINATION__URL",
          "STREAMER_DESTINATION__SERVICE_KEY", "STREAMER_KAFKA__BOOTSTRAP_SERVERS", "STACK_JWT_SECRET",
          "STACK_ANON_KEY")


def endpoints() -> Endpoints:
    """The stack's endpoints from the environment; exits naming what is missing."""
    env = os.environ
    missing = [k for k in NEEDED if not env.get(k)]
    if missing:
        sys.exit(f"missing {', '.join(missing)}: run `eval \"$(.venv/bin/python -m devstack env)\"` first "
                 "(scripts/bench does)")
    url = env["STREAMER_DESTINATION__URL"]
    return Endpoints(env["STREAMER_SOURCE__DSN"], env["STREAMER_DESTINATION__DSN"],
                     env["STREAMER_KAFKA__BOOTSTRAP_SERVERS"], f"{url}/rest/v1", env["STACK_JWT_SECRET"],
                     env["STACK_ANON_KEY"], env["STREAMER_DESTINATION__SERVICE_KEY"], "")


async def pair(services: Endpoints, prefix: str = "b") -> ScratchPair:
    """A scratch copy of `leads` on both sides; the destination's has `landed_at` (when the row
    was written there, the database's clock), for latencies."""
    p = ScratchPair(services, prefix + uuid.uuid4().hex[:8], await asyncpg.connect(services.source_dsn),
                    await asyncpg.connect(services.destination_dsn))
    await p.create(destination_extra="")
    await p.destination.execute(f"ALTER TABLE {p.table} ADD COLUMN landed_at timestamptz DEFAULT clock_timestamp()")
    await p.reload_destination_schema("landed_at")
    return p


async def close(p: ScratchPair) -> None:
    await p.drop()
    await p.source.close()
    await p.destination.close()


async def count(conn: asyncpg.Connection, table: str) -> int:
    return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))


async def poll(check: Callable[[], Awaitable[bool]], *, every: float = 0.05, seconds: float = 3600,
               what: str = "condition", alive: Callable[[], None] | None = None) -> None:
    """Return once `check()` holds, asking every `every` seconds; `alive()` may raise to give up."""
    deadline = time.monotonic() + seconds
    while not await check():
        if alive is not None:
            alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached after {seconds:.0f} s")
        await asyncio.sleep(every)


async def insert(conn: asyncpg.Connection, table: str, rows: list[dict[str, object]], chunk: int = 1000) -> None:
    for i in range(0, len(rows), chunk):
        await conn.execute(INSERT.format(table=table), orjson.dumps(rows[i:i + chunk]).decode())


async def insert_many(conn: asyncpg.Connection, table: str, n: int, *, first: int = 1, chunk: int = 1000) -> None:
    """`n` sample leads from id `first`, generated and written `chunk` at a time, so a large count
    holds one chunk in this process's memory, not all of them."""
    for start in range(first, first + n, chunk):
        size = min(chunk, first + n - start)
        await conn.execute(INSERT.format(table=table), orjson.dumps(leads(start, size, seed=start)).decode())


async def landed_span(p: ScratchPair, began_db: object) -> float:
    """Seconds from `began_db` (a source-clock timestamp) to the last row landing at the
    destination (both databases run on this machine, one clock)."""
    last = await p.destination.fetchval(f"SELECT max(landed_at) FROM {p.table}")
    return float((last - began_db).total_seconds())  # type: ignore[operator]
