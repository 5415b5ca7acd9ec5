"""`python -m devstack demo`: the sync at work on the local stack. Sample leads are written to the source
while the capture and the sink run in this process; a progress bar follows them landing at the
destination, then a summary gives leads/s, end-to-end latency percentiles and errors."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import asyncpg
import orjson
from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from devstack.demo.generator import INSERT, leads
from streamer.capture.component import CaptureComponent
from streamer.config import Settings
from streamer.errors import ConfigError
from streamer.metrics import Metrics
from streamer.service import Component
from streamer.sink.component import SinkComponent


@dataclass(frozen=True)
class Summary:
    leads: int
    landed: int
    seconds: float
    p50: float | None
    p95: float | None
    p99: float | None
    failed: int

    @property
    def rate(self) -> float:
        return self.landed / self.seconds if self.seconds else 0.0


def histogram_quantile(registry: CollectorRegistry, name: str, q: float) -> float | None:
    """Prometheus's histogram_quantile over one unlabelled histogram (linear within a bucket)."""
    buckets = sorted((float(s.labels["le"]), s.value) for m in registry.collect() for s in m.samples
                     if s.name == f"{name}_bucket")
    if not buckets or buckets[-1][1] == 0:
        return None
    rank, previous_bound, previous_count = q * buckets[-1][1], 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return previous_bound
            share = (rank - previous_count) / (count - previous_count) if count > previous_count else 1.0
            return previous_bound + (bound - previous_bound) * share
        previous_bound, previous_count = bound, count
    return None


async def _landed(conn: asyncpg.Connection, table: str, first: int, last: int) -> int:
    return int(await conn.fetchval(f"SELECT count(*) FROM {table} WHERE id BETWEEN $1 AND $2", first, last))


async def demo(settings: Settings, count: int, console: Console, *, chunk: int = 500) -> Summary:
    """Write `count` sample leads and watch them land; the components stop when all have."""
    if settings.destination.dsn is None:
        raise ConfigError(["STREAMER_DESTINATION__DSN: the demo counts landed leads in the destination "
                           "database (the local stack sets it: eval \"$(python -m devstack env)\")"])
    metrics, stopping = Metrics(), asyncio.Event()
    components: list[Component] = [CaptureComponent(settings, metrics), SinkComponent(settings, metrics)]
    tasks = [asyncio.create_task(c.run(stopping)) for c in components]
    source = await asyncpg.connect(settings.source.dsn.get_secret_value())
    destination = await asyncpg.connect(settings.destination.dsn.get_secret_value())
    table = settings.source.table
    try:
        while not all(c.ready() for c in components):
            if any(t.done() for t in tasks):
                await asyncio.gather(*tasks)
            await asyncio.sleep(0.1)
        first = int(await source.fetchval(f"SELECT coalesce(max(id), 0) + 1 FROM {table}"))
        rows, began = leads(first, count, seed=first), time.monotonic()
        with _progress(console) as progress:
            job = progress.add_task("landing", total=count)
            for i in range(0, count, chunk):
                await source.execute(INSERT.format(table=table), orjson.dumps(rows[i:i + chunk]).decode())
                progress.update(job, completed=await _landed(destination, table, first, first + count - 1))
            landed = 0
            while landed < count and not any(t.done() for t in tasks):
                landed = await _landed(destination, table, first, first + count - 1)
                progress.update(job, completed=landed)
                await asyncio.sleep(0.2)
        elapsed = time.monotonic() - began
    finally:
        stopping.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await source.close()
        await destination.close()
    r = metrics.registry
    p50, p95, p99 = (histogram_quantile(r, "streamer_sink_end_to_end_seconds", q) for q in (0.5, 0.95, 0.99))
    failed = sum(s.value for m in r.collect() for s in m.samples if s.name == "streamer_sink_leads_failed_total")
    return Summary(count, landed, elapsed, p50, p95, p99, int(failed))


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:>7,.0f} leads/s")


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                    TimeRemainingColumn(), console=console)
