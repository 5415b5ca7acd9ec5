"""The three ways of moving leads that `scripts/bench` compares, and the paced writer its latency
and memory figures use:

  pipeline     a real `streamer run` process (capture + sink) fed by inserts at the source: from
               the first insert to the last row landing (the destination's `landed_at`)
  seed-way     the batch exporter the sync replaces, written the seed's way: read 50 leads by
               date, POST them, read the next 50; one request at a time
  direct SQL   50-row INSERT ... ON CONFLICT statements on one connection straight into the
               destination database: the ceiling for 50-row batches
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from benchkit.machine import busy_seconds
from benchkit.procs import StreamerRun, load_average
from benchkit.stack import INSERT, REPO, count, landed_span, leads, poll
from connectors.postgrest.client import PostgrestClient
from devstack.scratch import ScratchPair


@dataclass
class PipelineFigures:
    rate: float  # leads/s, first insert to last landing
    cpu_ms_per_lead: float  # `streamer run`'s utime+stime over the run, per lead
    peak_rss_mb: float
    load: float  # 1-minute load average at the end
    machine_ms_per_lead: float  # every process's CPU over the run, all cores (benchkit/machine.py)


@dataclass
class ExportFigures:
    rate: float  # leads/s
    machine_ms_per_lead: float


def chunks(n: int, first: int = 1, size: int = 1000) -> list[str]:
    """`n` sample leads as JSON arrays of `size`, generated before the clock starts."""
    return [orjson.dumps(leads(i, min(size, first + n - i), seed=i)).decode() for i in range(first, first + n, size)]


async def _landed(p: ScratchPair, n: int, run: StreamerRun) -> None:
    async def done() -> bool:
        return await count(p.destination, p.table) >= n
    await poll(done, every=max(0.1, n / 200_000), what=f"{n:,} leads landed", alive=run.alive)


async def pipeline(p: ScratchPair, n: int) -> PipelineFigures:
    bodies = chunks(n)
    async with StreamerRun(p) as run:
        cpu0, busy0 = run.cpu(), busy_seconds()
        began = await p.source.fetchval("SELECT clock_timestamp()")
        for body in bodies:
            await p.source.execute(INSERT.format(table=p.table), body)
        await _landed(p, n, run)
        cpu, busy = run.cpu() - cpu0, busy_seconds() - busy0
        span = await landed_span(p, began)
        return PipelineFigures(n / span, cpu * 1000 / n, run.peak_rss_mb(), load_average()[0], busy * 1000 / n)


async def seed_way(p: ScratchPair, n: int) -> ExportFigures:
    """The seed's exporter: page through the source by date, POST each 50, one at a time."""
    for body in chunks(n):
        await p.source.execute(INSERT.format(table=p.table), body)
    busy0 = busy_seconds()
    rate = await export_seed_way(p, n)
    return ExportFigures(rate, (busy_seconds() - busy0) * 1000 / n)


async def export_seed_way(p: ScratchPair, n: int) -> float:
    """The seed's exporter over the `n` leads already at the source: leads per second."""
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


def direct_sql_statements(p: ScratchPair, n: int) -> tuple[str, list[str]]:
    """The 50-row upsert statement and its `n / 50` JSON arguments, built before any clock starts."""
    rows = leads(1, n)
    columns = list(rows[0])
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns)
    sql = (f"INSERT INTO {p.table} ({', '.join(columns)}) SELECT {', '.join(columns)} "
           f"FROM json_populate_recordset(NULL::{p.table}, $1::json) ON CONFLICT (id) DO UPDATE SET {updates}")
    return sql, [orjson.dumps(rows[i:i + 50]).decode() for i in range(0, n, 50)]


async def direct_sql(p: ScratchPair, n: int, latency_ms: int) -> float:
    """50-row upserts on one connection; `latency_ms` slept before each, as the network would."""
    return await run_statements(p, n, *direct_sql_statements(p, n), latency_ms)


async def run_statements(p: ScratchPair, n: int, sql: str, bodies: list[str], latency_ms: int) -> float:
    """`sql` once per body on the destination's connection: the `n` rows they hold per second."""
    began = time.monotonic()
    for body in bodies:
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        await p.destination.execute(sql, body)
    return n / (time.monotonic() - began)


@dataclass
class Latency:
    rate: int
    leads: int
    p50_ms: float
    p99_ms: float
    load: float


async def paced(p: ScratchPair, rate: int, seconds: float, first: int, tick: float = 0.02) -> int:
    """Insert `rate` leads/s for `seconds` from id `first`, each lead generated (its `updated_at`
    read from the clock) just before its INSERT; return the next free id."""
    began, written = time.monotonic(), 0
    while (elapsed := time.monotonic() - began) < seconds:
        due = int(rate * elapsed) + 1 - written  # leads that should be written by now
        if due > 0:
            body = orjson.dumps(leads(first + written, due, seed=first + written)).decode()
            await p.source.execute(INSERT.format(table=p.table), body)
            written += due
        else:
            await asyncio.sleep(min(tick, max(0.0, began + written / rate - time.monotonic())))
    return first + written


async def steady_latencies(p: ScratchPair, rates: tuple[int, ...], seconds: float, *, repo: Path = REPO,
                           extra: dict[str, str] | None = None) -> list[Latency]:
    """Commit → visible at each steady rate in turn, through one `streamer run` (of `repo`, with
    `extra` settings): per lead, from the source row's `updated_at` (set just before its INSERT
    commits) to its `landed_at`."""
    out: list[Latency] = []
    async with StreamerRun(p, extra=extra or {}, repo=repo) as run:
        first = 1
        for rate in rates:
            start = first
            first = await paced(p, rate, seconds, first)
            await _landed(p, first - 1, run)
            lags = sorted(await lag_ms(p, start, first))
            out.append(Latency(rate, len(lags), statistics.median(lags), lags[int(0.99 * (len(lags) - 1))],
                               load_average()[0]))
            await asyncio.sleep(1)  # let the pipeline settle between rates
    return out


async def lag_ms(p: ScratchPair, first: int, end: int) -> list[float]:
    source = dict(await p.source.fetch(f"SELECT id, updated_at FROM {p.table} WHERE id >= $1 AND id < $2",
                                       first, end))
    landed = await p.destination.fetch(f"SELECT id, landed_at FROM {p.table} WHERE id >= $1 AND id < $2",
                                       first, end)
    return [(r["landed_at"] - source[r["id"]]).total_seconds() * 1000 for r in landed]


@dataclass
class Memory:
    small: int
    large: int
    small_mb: float
    large_mb: float
    load: float


async def memory(p: ScratchPair, small: int, large: int) -> Memory:
    """Peak RSS of one `streamer run` after `small` leads landed, then after `large` in all."""
    async with StreamerRun(p) as run:
        for body in chunks(small):
            await p.source.execute(INSERT.format(table=p.table), body)
        await _landed(p, small, run)
        small_mb = run.peak_rss_mb()
        for start in range(small + 1, large + 1, 10_000):  # generated as it goes: this process stays small too
            for body in chunks(min(10_000, large + 1 - start), first=start):
                await p.source.execute(INSERT.format(table=p.table), body)
        await _landed(p, large, run)
        return Memory(small, large, small_mb, run.peak_rss_mb(), load_average()[0])
