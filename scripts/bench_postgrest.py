"""Benchmark: 50-row merge-duplicates upserts through the PostgREST-compatible server vs direct SQL.

    .venv/bin/python scripts/bench_postgrest.py --dsn postgresql://postgres@127.0.0.1:5544/postgres
    .venv/bin/python scripts/bench_postgrest.py --dsn ... --url http://127.0.0.1:3000/rest/v1 --secret ...

Without `--url` the script starts `python -m devserver` itself on a free port (`devserver.launch`)
(a separate process, so client and server do not share an event loop). DSN, URL and secret may
also come from `BENCH_DB_URI`, `BENCH_POSTGREST_URL`, `BENCH_JWT_SECRET`. The table is a
49-column lead-like table created (and dropped) by the script.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.postgrest.keys import issue_key  # noqa: E402
from devserver.launch import LaunchError, launched  # noqa: E402
from devserver.query import InsertSpec, build_insert  # noqa: E402
from devserver.schema_cache import load_schema_cache  # noqa: E402

TEXT_COLS = [f"text_{i}" for i in range(20)]
INT_COLS = [f"int_{i}" for i in range(10)]
NUM_COLS = [f"num_{i}" for i in range(5)]
TS_COLS = [f"ts_{i}" for i in range(5)]
BOOL_COLS = [f"flag_{i}" for i in range(4)]
# id + 20 text + 10 int + 5 numeric + 5 timestamptz + 4 boolean + uuid + jsonb + date + varchar = 49
EXTRA = ["owner uuid", "meta jsonb", "born date", "phone varchar(32)"]


def table_ddl(name: str) -> str:
    cols = ["id text primary key"]
    cols += [f"{c} text" for c in TEXT_COLS] + [f"{c} integer" for c in INT_COLS]
    cols += [f"{c} numeric(12,2)" for c in NUM_COLS] + [f"{c} timestamptz" for c in TS_COLS]
    cols += [f"{c} boolean" for c in BOOL_COLS] + EXTRA
    assert len(cols) == 49
    return f"CREATE TABLE public.{name} ({', '.join(cols)})"


def make_row(key: str, n: int) -> dict[str, Any]:
    row: dict[str, Any] = {"id": key}
    row.update({c: f"{c} value {n} lorem ipsum" for c in TEXT_COLS})
    row.update({c: n + i for i, c in enumerate(INT_COLS)})
    row.update({c: round(n * 1.25 + i, 2) for i, c in enumerate(NUM_COLS)})
    row.update({c: f"2026-01-0{1 + i}T12:00:00+00:00" for i, c in enumerate(TS_COLS)})
    row.update({c: (n + i) % 2 == 0 for i, c in enumerate(BOOL_COLS)})
    row.update(
        {
            "owner": str(uuid.UUID(int=n)),
            "meta": {"source": "bench", "n": n},
            "born": "1990-05-17",
            "phone": "+55 11 99999-0000",
        }
    )
    return row


def batches(requests: int, rows: int, tag: str) -> list[bytes]:
    return [orjson.dumps([make_row(f"{tag}-{r}-{i}", r * rows + i) for i in range(rows)]) for r in range(requests)]


async def run_concurrently(
    bodies: Sequence[bytes], concurrency: int, send: Callable[[bytes], Awaitable[None]]
) -> float:
    queue = list(reversed(bodies))

    async def worker() -> None:
        while queue:
            await send(queue.pop())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def bench_http(url: str, key: str, table: str, bodies: Sequence[bytes], concurrency: int) -> float:
    headers = {
        "apikey": key,
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/json",
        "Prefer": "resolution=merge-duplicates, return=minimal",
    }
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url + "/", headers=headers, limits=limits, timeout=60) as client:

        async def send(body: bytes) -> None:
            response = await client.post(table, content=body)
            if response.status_code not in (200, 201):
                raise RuntimeError(f"{response.status_code} {response.text[:300]}")

        return await run_concurrently(bodies, concurrency, send)


async def bench_sql(pool: asyncpg.Pool, sql: str, bodies: Sequence[bytes], concurrency: int) -> float:
    async def send(body: bytes) -> None:
        async with pool.acquire() as conn:
            await conn.fetch(sql, body.decode())

    return await run_concurrently(bodies, concurrency, send)


async def bench_executemany(
    pool: asyncpg.Pool, sql: str, columns: Sequence[str], bodies: Sequence[bytes], concurrency: int
) -> float:
    parsed = [[tuple(_sql_value(r[c]) for c in columns) for r in orjson.loads(b)] for b in bodies]
    index = {id(b): p for b, p in zip(bodies, parsed, strict=True)}

    async def send(body: bytes) -> None:
        async with pool.acquire() as conn:
            await conn.executemany(sql, index[id(body)])

    return await run_concurrently(bodies, concurrency, send)


def _sql_value(value: Any) -> str | None:
    """Every value as text; the statement casts (keeps executemany comparable and simple)."""
    if value is None:
        return None
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return str(value).lower() if isinstance(value, bool) else str(value)


async def wait_for_table(url: str, key: str, table: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            doc = await client.get(url + "/", headers={"apikey": key})
            if doc.status_code == 200 and table in doc.json().get("definitions", {}):
                return
            await asyncio.sleep(0.05)
    raise SystemExit(f"{table} never appeared in the schema cache")


async def main(args: argparse.Namespace) -> None:
    with ExitStack() as servers:
        url, secret = args.url, args.secret
        if not url:
            secret = secret or secrets.token_urlsafe(32)
            try:
                url = servers.enter_context(launched(db_uri=args.dsn, jwt_secret=secret, timeout=20)).rest_url
            except LaunchError:
                raise SystemExit("the server did not start") from None
        if not secret:
            raise SystemExit("--secret (or BENCH_JWT_SECRET) is required with --url")
        await bench(args, url, secret)


async def bench(args: argparse.Namespace, url: str, secret: str) -> None:
    key = issue_key(secret, "service_role")
    table = f"bench_leads_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(args.dsn)
    pool = await asyncpg.create_pool(args.dsn, min_size=4, max_size=4)
    try:
        await admin.execute(table_ddl(table))
        await admin.execute(f"GRANT ALL ON public.{table} TO service_role")
        await admin.execute("NOTIFY pgrst, 'reload schema'")
        await wait_for_table(url, key, table)
        await report(args, url, key, table, admin, pool)
    finally:
        await admin.execute(f"DROP TABLE IF EXISTS public.{table}")
        await admin.close()
        await pool.close()


async def report(
    args: argparse.Namespace, url: str, key: str, table: str, admin: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    cache = await load_schema_cache(admin, ["public"])
    cached = cache.table("public", table)
    assert cached is not None
    columns = tuple(cached.columns)
    spec = InsertSpec(columns, True, resolution="merge-duplicates")
    sql = build_insert(cached, spec, "").sql
    typed = ", ".join(f"${i + 1}::text::{cached.columns[c].sql_type}" for i, c in enumerate(columns))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns)
    many_sql = (
        f"INSERT INTO public.{table} ({', '.join(columns)}) VALUES ({typed}) ON CONFLICT (id) DO UPDATE SET {updates}"
    )
    await bench_http(url, key, table, batches(5, args.rows, "warm"), 2)  # warm-up
    print(f"{args.requests} requests x {args.rows} rows, 49-column table, merge-duplicates upserts")
    print(f"{'path':<44}{'conc':>5}{'seconds':>10}{'rows/s':>10}")
    for concurrency in (1, 4):
        runs: list[tuple[str, Callable[..., Awaitable[float]]]] = [
            ("HTTP via server (insert)", lambda b, c=concurrency: bench_http(url, key, table, b, c)),
            ("direct SQL json_to_recordset (insert)", lambda b, c=concurrency: bench_sql(pool, sql, b, c)),
            (
                "direct SQL executemany (insert)",
                lambda b, c=concurrency: bench_executemany(pool, many_sql, columns, b, c),
            ),
        ]
        for label, run in runs:
            bodies = batches(args.requests, args.rows, f"{label[:4]}{concurrency}")
            seconds = await run(bodies)
            print(f"{label:<44}{concurrency:>5}{seconds:>10.2f}{args.requests * args.rows / seconds:>10.0f}")
            if "server" in label:  # the same ids again: every row is an update (status 200)
                seconds = await run(bodies)
                label2 = label.replace("insert", "update")
                print(f"{label2:<44}{concurrency:>5}{seconds:>10.2f}{args.requests * args.rows / seconds:>10.0f}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default=os.environ.get("BENCH_DB_URI") or os.environ.get("PGRST_DB_URI"))
    parser.add_argument("--url", default=os.environ.get("BENCH_POSTGREST_URL"))
    parser.add_argument("--secret", default=os.environ.get("BENCH_JWT_SECRET"))
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rows", type=int, default=50)
    args = parser.parse_args()
    if not args.dsn:
        parser.error("--dsn (or BENCH_DB_URI) is required")
    return args


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
