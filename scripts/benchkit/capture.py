"""The capture alone into Kafka, for events/s and the source database's CPU (`scripts/bench`'s
Debezium rows, and `scripts/bench_capture.py`'s reader comparison).

Backlog: N changes (inserts of 49-column leads, 100 per transaction) are written while the slot /
outbox trigger exists but no capture runs; the clock starts with the capture and stops when Kafka
has acknowledged all N events. Paced: the capture runs while single-lead transactions arrive at
200 changes/s; the source's CPU (utime+stime of its walsender and the capture's SQL session, from
/proc: run on the database's machine) is measured over the window.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from aiokafka.structs import TopicPartition

from benchkit.procs import cpu_seconds
from benchkit.stack import INSERT, leads
from connectors.kafka.client import Consumer
from connectors.kafka.settings import KafkaSettings
from connectors.postgres import slot as slots
from streamer.capture.component import CaptureComponent
from streamer.capture.outbox import OutboxSource
from streamer.capture.protocol import StreamSource
from streamer.capture.replication import ReplicationSource
from streamer.config import Settings
from streamer.metrics import Metrics
from streamer.sections import SourceSettings


def settings(mode: str, name: str, reader: str = "auto", **source: Any) -> Settings:
    env = os.environ
    return Settings(
        source=SourceSettings(dsn=env["STREAMER_SOURCE__DSN"], table=f"leads_{name}", capture_mode=mode,  # type: ignore[arg-type]
                              slot=f"slot_{name}", publication=f"pub_{name}", snapshot_mode="never",
                              slot_reader=reader, **source),  # type: ignore[arg-type]
        kafka=KafkaSettings(bootstrap_servers=env["STREAMER_KAFKA__BOOTSTRAP_SERVERS"], topic_prefix=f"t{name}",
                            partitions=3))


async def backlog(conn: asyncpg.Connection, table: str, n: int, per_tx: int = 100) -> None:
    rows = leads(1, n)
    for i in range(0, n, per_tx):
        await conn.execute(INSERT.format(table=table), orjson.dumps(rows[i:i + per_tx]).decode())


async def on_topic(s: Settings) -> int:
    async with Consumer(s.kafka, group_id=f"probe-{uuid.uuid4().hex[:6]}") as consumer:
        partitions = [TopicPartition(s.kafka.leads_topic, p) for p in range(s.kafka.partitions)]
        ends = await consumer.raw.end_offsets(partitions)
    return int(sum(ends.values()))


def source_pids(component: CaptureComponent) -> list[int]:
    """The server processes working for the capture: its SQL session, and the walsender if any."""
    source = component.source
    if isinstance(source, StreamSource):
        assert source.stream is not None
        return [source.base.conn.get_server_pid(), source.stream.pid]
    if isinstance(source, ReplicationSource | OutboxSource):
        return [source.conn.get_server_pid()]
    return []


@dataclass
class Row:
    path: str
    rate: float | None  # events/s into Kafka
    source_cpu: float | None  # source CPU seconds per 10k events
    capture_cpu: float | None  # this process's CPU seconds per 10k events


def source_cpu(pids: list[int]) -> float | None:
    try:
        return sum(cpu_seconds(p) for p in pids)
    except OSError:  # not on the database's machine, or not allowed to read its processes
        return None


async def start(s: Settings) -> tuple[CaptureComponent, asyncio.Task[None], asyncio.Event]:
    component, stopping = CaptureComponent(s, Metrics()), asyncio.Event()
    task = asyncio.create_task(component.run(stopping))
    while not component.ready():
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    return component, task, stopping


async def until_on_topic(s: Settings, n: int, task: asyncio.Task[None]) -> None:
    while await on_topic(s) < n:
        if task.done():
            task.result()
        await asyncio.sleep(0.1)


async def captured(s: Settings, n: int) -> Row:
    """Run the capture until all `n` backlog events are on the topic."""
    began, cpu0 = time.monotonic(), time.process_time()
    component, task, stopping = await start(s)
    pids = source_pids(component)
    await until_on_topic(s, n, task)
    elapsed, spent = time.monotonic() - began, source_cpu(pids)
    capture = time.process_time() - cpu0
    stopping.set()
    await task
    per10k = 10_000 / n
    return Row("", n / elapsed, spent * per10k if spent is not None else None, capture * per10k)


async def paced(conn: asyncpg.Connection, s: Settings, seconds: float, rate: int = 200) -> Row:
    """Run the capture while single-lead transactions arrive at `rate`/s; CPU over the window."""
    component, task, stopping = await start(s)
    pids = source_pids(component)
    rows = leads(1, int(seconds * rate))
    before, began = source_cpu(pids), time.monotonic()
    for i, row in enumerate(rows):
        await conn.execute(INSERT.format(table=s.source.table), orjson.dumps([row]).decode())
        await asyncio.sleep(max(0.0, began + (i + 1) / rate - time.monotonic()))
    await until_on_topic(s, len(rows), task)
    after = source_cpu(pids)
    stopping.set()
    await task
    per10k = 10_000 / len(rows)
    spent = (after - before) * per10k if after is not None and before is not None else None
    return Row("", None, spent, None)  # this process's CPU includes the writer here: not shown


@asynccontextmanager
async def bench_table(conn: asyncpg.Connection, mode: str, reader: str = "auto", **source: Any
                      ) -> AsyncIterator[Settings]:
    name = "c" + uuid.uuid4().hex[:8]
    s = settings(mode, name, reader, **source)
    await conn.execute(f"CREATE TABLE {s.source.table} (LIKE leads INCLUDING ALL)")
    await conn.execute(f"ALTER TABLE {s.source.table} REPLICA IDENTITY FULL")
    try:
        if mode == "replication":
            await slots.ensure_publication(conn, s.source.publication, s.source.table)
            await slots.ensure_slot(conn, s.source.slot)
        else:
            await OutboxSource(conn, s.source, Metrics()).prepare()
        yield s
    finally:
        await conn.execute(f"DROP TABLE {s.source.table}")
        await conn.execute(f"DROP PUBLICATION IF EXISTS {s.source.publication}")
        await slots.drop_slot(conn, s.source.slot)
        await conn.execute("DELETE FROM streamer_outbox")


async def bench_mode(conn: asyncpg.Connection, mode: str, n: int, reader: str = "auto", **source: Any) -> Row:
    async with bench_table(conn, mode, reader, **source) as s:
        await backlog(conn, s.source.table, n)
        return await captured(s, n)


async def bench_paced(conn: asyncpg.Connection, mode: str, seconds: float, reader: str = "auto") -> Row:
    async with bench_table(conn, mode, reader) as s:
        return await paced(conn, s, seconds)


@asynccontextmanager
async def slot_backlog(conn: asyncpg.Connection, n: int) -> AsyncIterator[SourceSettings]:
    """A table of its own with a publication and slot, and a backlog of `n` changes in the slot."""
    s = settings("replication", "r" + uuid.uuid4().hex[:8]).source
    await conn.execute(f"CREATE TABLE {s.table} (LIKE leads INCLUDING ALL)")
    try:
        await slots.ensure_publication(conn, s.publication, s.table)
        await slots.ensure_slot(conn, s.slot)
        await backlog(conn, s.table, n)
        yield s
    finally:
        await conn.execute(f"DROP TABLE {s.table}")
        await conn.execute(f"DROP PUBLICATION IF EXISTS {s.publication}")
        await slots.drop_slot(conn, s.slot)
