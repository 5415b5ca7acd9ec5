#!/usr/bin/env python3
"""Sink benchmark (issue 5): leads/s landed at the destination, side by side, in one run.

    eval "$(.venv/bin/python -m devstack env)"; .venv/bin/python scripts/bench_sink.py [--leads 10000]

Rows, for 0 ms and 50 ms of latency added to every request (the PostgREST-compatible server's
fault knob; for direct SQL, a 50 ms sleep per statement, the same network cost):
  pipeline      capture + Kafka + sink, end to end: from the first source insert to the last landing
  seed-way      the seed's exporter: read leads by date, POST 50 at a time, one request in flight
  direct SQL    50-row INSERT ... ON CONFLICT statements straight into the destination database,
                4 in flight like the sink (the ceiling)
Then p50/p99 end-to-end latency (source commit to landing, per lead, from a `landed_at` column the
destination fills) while the source writes a steady 500 leads/s for 20 s.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.postgrest.client import PostgrestClient  # noqa: E402
from devstack.demo.generator import INSERT, leads  # noqa: E402
from devstack.scratch import ScratchPair  # noqa: E402
from devstack.stack import Endpoints  # noqa: E402
from streamer.capture.component import CaptureComponent  # noqa: E402
from streamer.metrics import Metrics  # noqa: E402
from streamer.sink.component import SinkComponent  # noqa: E402

LANDED_AT = ", landed_at timestamptz DEFAULT clock_timestamp()"


def endpoints() -> Endpoints:
    env = os.environ
    url = env["STREAMER_DESTINATION__URL"]
    return Endpoints(env["STREAMER_SOURCE__DSN"], env["STREAMER_DESTINATION__DSN"],
                     env["STREAMER_KAFKA__BOOTSTRAP_SERVERS"], f"{url}/rest/v1", env["STACK_JWT_SECRET"],
                     env["STACK_ANON_KEY"], env["STREAMER_DESTINATION__SERVICE_KEY"], "")


async def pair(services: Endpoints) -> ScratchPair:
    p = ScratchPair(services, "b" + uuid.uuid4().hex[:8], await asyncpg.connect(services.source_dsn),
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


async def poll(check: Callable[[], Awaitable[bool]], every: float = 0.05) -> None:
    """Return once `check()` holds, asking every `every` seconds."""
    for _ in itertools.count():
        if await check():
            return
        await asyncio.sleep(every)


async def insert(conn: asyncpg.Connection, table: str, rows: list[dict[str, object]], chunk: int = 1000) -> None:
    for i in range(0, len(rows), chunk):
        await conn.execute(INSERT.format(table=table), orjson.dumps(rows[i:i + chunk]).decode())


async def with_pipeline(p: ScratchPair, body: Callable[[], Awaitable[float]]) -> float:
    settings, metrics, stopping = p.settings(), Metrics(), asyncio.Event()
    components = [CaptureComponent(settings, metrics), SinkComponent(settings, metrics)]
    tasks = [asyncio.create_task(c.run(stopping)) for c in components]
    await poll(lambda: _true(all(c.ready() for c in components)))
    try:
        return await body()
    finally:
        stopping.set()
        await asyncio.gather(*tasks)


async def _true(value: bool) -> bool:
    return value


async def _at_least(p: ScratchPair, n: int) -> bool:
    return await count(p.destination, p.table) >= n


async def bench_pipeline(p: ScratchPair, n: int) -> float:
    async def body() -> float:
        began = time.monotonic()
        await insert(p.source, p.table, leads(1, n))
        await poll(lambda: _at_least(p, n))
        return n / (time.monotonic() - began)
    return await with_pipeline(p, body)


async def bench_seed_way(p: ScratchPair, n: int) -> float:
    """The seed's exporter: page through the source by date, POST each 50, one at a time."""
    await insert(p.source, p.table, leads(1, n))
    client = PostgrestClient(f"{p.services.postgrest_url}", p.services.service_key)
    began, cursor = time.monotonic(), (datetime.min.replace(tzinfo=UTC), 0)
    try:
        while True:
            rows = await p.source.fetch(
                f"SELECT row_to_json(t)::text AS j, criado, id FROM {p.table} t "
                "WHERE (criado, id) > ($1::timestamptz, $2) ORDER BY criado, id LIMIT 50", cursor[0], cursor[1])
            if not rows:
                break
            payload = [orjson.loads(r["j"]) | {"sync_source": "tabuladormax"} for r in rows]
            await client.upsert(p.table, payload)
            cursor = (rows[-1]["criado"], rows[-1]["id"])
    finally:
        await client.aclose()
    return n / (time.monotonic() - began)


async def bench_direct_sql(p: ScratchPair, n: int, latency_ms: int, in_flight: int = 4) -> float:
    rows = leads(1, n)
    columns = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in rows[0])
    sql = (f"INSERT INTO {p.table} ({', '.join(rows[0])}) SELECT {', '.join(rows[0])} "
           f"FROM json_populate_recordset(NULL::{p.table}, $1::json) ON CONFLICT (id) DO UPDATE SET {columns}")
    pool = await asyncpg.create_pool(p.services.destination_dsn, min_size=in_flight, max_size=in_flight)
    chunks = [orjson.dumps(rows[i:i + 50]).decode() for i in range(0, n, 50)]
    queue: asyncio.Queue[str] = asyncio.Queue()
    for chunk in chunks:
        queue.put_nowait(chunk)

    async def worker() -> None:
        async with pool.acquire() as conn:
            while not queue.empty():
                body = queue.get_nowait()
                if latency_ms:
                    await asyncio.sleep(latency_ms / 1000)
                await conn.execute(sql, body)

    began = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    elapsed = time.monotonic() - began
    await pool.close()
    return n / elapsed


async def steady_latency(p: ScratchPair, rate: int = 500, seconds: int = 20) -> tuple[float, float, int]:
    """p50 and p99 in ms of landed_at - source updated_at, while writing `rate` leads/s."""
    async def body() -> float:
        first, tick = 1, 0.1
        began = time.monotonic()
        while time.monotonic() - began < seconds:
            step_began = time.monotonic()
            batch = int(rate * tick)
            await insert(p.source, p.table, leads(first, batch, seed=first))
            first += batch
            await asyncio.sleep(max(0.0, tick - (time.monotonic() - step_began)))
        await poll(lambda: _at_least(p, first - 1))
        return float(first - 1)
    total = int(await with_pipeline(p, body))
    source_times = dict(await p.source.fetch(f"SELECT id, updated_at FROM {p.table}"))
    landed = await p.destination.fetch(f"SELECT id, landed_at FROM {p.table}")
    lags = sorted((r["landed_at"] - source_times[r["id"]]).total_seconds() * 1000 for r in landed)
    return statistics.median(lags), lags[int(0.99 * (len(lags) - 1))], total


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=10_000)
    args = parser.parse_args()
    services = endpoints()
    results: list[tuple[str, int, float]] = []
    for latency in (0, 50):
        for name in ("pipeline", "seed-way", "direct SQL"):
            p = await pair(services)
            try:
                if latency:
                    await p.admin("POST", "faults", latency_ms=latency, table=p.table)
                if name == "pipeline":
                    rate = await bench_pipeline(p, args.leads)
                elif name == "seed-way":
                    rate = await bench_seed_way(p, args.leads)
                else:
                    rate = await bench_direct_sql(p, args.leads, latency)
            finally:
                await p.admin("DELETE", "faults")
                await close(p)
            results.append((name, latency, rate))
            print(f"  {name:<11} +{latency:>2} ms  {rate:>8,.0f} leads/s", flush=True)
    p = await pair(services)
    try:
        p50, p99, total = await steady_latency(p)
    finally:
        await close(p)
    print(f"\n{args.leads:,} leads per run; the table:\n")
    print("| path | +0 ms | +50 ms |\n|---|---|---|")
    for name in ("pipeline", "seed-way", "direct SQL"):
        rates = {lat: r for n, lat, r in results if n == name}
        print(f"| {name} | {rates[0]:,.0f} leads/s | {rates[50]:,.0f} leads/s |")
    print(f"\nsteady 500 leads/s for 20 s ({total:,} leads): end-to-end p50 {p50:.0f} ms, p99 {p99:.0f} ms")


if __name__ == "__main__":
    asyncio.run(main())
