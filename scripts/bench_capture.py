#!/usr/bin/env python3
"""Capture benchmark (issues 4 and 13): the capture end to end into Kafka, each slot reader and the
outbox, beside the raw decoding ceiling, with the source database's CPU per 10k events.

    eval "$(.venv/bin/python -m devstack env)"
    .venv/bin/python scripts/bench_capture.py [--changes 50000] [--paced-seconds 20]

Backlog rows: N changes (inserts of realistic 49-column leads, 100 per transaction) are written
while the slot / outbox trigger exists but no capture runs; then the clock starts, and stops when
Kafka has acknowledged all N events:
  protocol      the slot read through START_REPLICATION (the default reader, protocol.py),
                decoded while the previous batch is produced
  sql           the slot read through pg_logical_slot_peek_binary_changes + advance (the fallback)
  notify        trigger outbox drained in id order, produced, rows deleted after the acks
  raw decode    the same slot backlog read and decoded alone, no Kafka (the ceiling), through the
                SQL interface and through the streaming protocol
Paced rows: the capture runs while single-lead transactions arrive at 200 changes/s for
--paced-seconds, the source's CPU measured over the window (polling and decoding, not the backlog).

Source CPU is utime+stime from /proc/<pid>/stat of the capture's server processes (the walsender
and the capture's SQL session; for the SQL reader, the session that peeks): run it on the
database's machine, as a user who can read them (the dev stack's). Capture CPU is this process's (backlog rows only).
--producer-sweep adds protocol rows with other producer batching / compression settings.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiokafka.structs import TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.kafka.client import Consumer  # noqa: E402
from connectors.kafka.settings import KafkaSettings  # noqa: E402
from connectors.postgres import slot as slots  # noqa: E402
from connectors.postgres.assembler import TransactionAssembler  # noqa: E402
from connectors.postgres.pgoutput import decode  # noqa: E402
from devstack.demo.generator import INSERT, leads  # noqa: E402
from streamer.capture.component import CaptureComponent  # noqa: E402
from streamer.capture.events import from_pgoutput  # noqa: E402
from streamer.capture.outbox import OutboxSource  # noqa: E402
from streamer.capture.protocol import StreamSource  # noqa: E402
from streamer.capture.replication import ReplicationSource  # noqa: E402
from streamer.config import Settings  # noqa: E402
from streamer.metrics import Metrics  # noqa: E402
from streamer.sections import SourceSettings  # noqa: E402


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


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat (fields 14 and 15, after "pid (comm)")."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


async def bench_raw(conn: asyncpg.Connection, n: int, page: int = 5000) -> float:
    async with slot_backlog(conn, n) as s:
        began, seen, assembler = time.monotonic(), 0, TransactionAssembler()
        while seen < n:
            safe = None
            assembler.reset()
            async for change in slots.stream_changes(conn, s.slot, s.publication, page):
                for batch in assembler.feed(decode(change.data), change.lsn):
                    seen += sum(1 for r in batch.records if from_pgoutput(r, db="bench") is not None)
                    safe = batch.end_lsn or safe
            if safe is not None:
                await slots.advance(conn, s.slot, safe)
        return n / (time.monotonic() - began)


def _stream_raw(dsn: str, slot: str, publication: str, n: int) -> float:
    """Read the slot's backlog through START_REPLICATION and decode it; return changes/s."""
    import select

    import psycopg2
    import psycopg2.extras

    conn = psycopg2.connect(dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection)
    try:
        cur = conn.cursor()
        began, seen, assembler = time.monotonic(), 0, TransactionAssembler()
        cur.start_replication(slot_name=slot, decode=False,
                              options={"proto_version": "1", "publication_names": publication})
        while seen < n:
            message = cur.read_message()
            if message is None:
                select.select([cur], [], [], 1.0)
                continue
            for batch in assembler.feed(decode(message.payload), message.data_start):
                seen += sum(1 for r in batch.records if from_pgoutput(r, db="bench") is not None)
                cur.send_feedback(flush_lsn=batch.end_lsn or 0)
        return n / (time.monotonic() - began)
    finally:
        conn.close()


async def bench_raw_streaming(conn: asyncpg.Connection, n: int) -> float | None:
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        print("psycopg2 missing (pip install -e '.[dev]'): the streaming-protocol row is skipped", file=sys.stderr)
        return None
    async with slot_backlog(conn, n) as s:
        return await asyncio.to_thread(_stream_raw, os.environ["STREAMER_SOURCE__DSN"], s.slot, s.publication, n)


def fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=50_000)
    parser.add_argument("--paced-seconds", type=float, default=20.0)
    parser.add_argument("--producer-sweep", action="store_true")
    args = parser.parse_args()
    n = args.changes
    rows: list[Row] = []

    def add(path: str, row: Row) -> None:
        row.path = path
        rows.append(row)
        print(f"  {path}: {fmt(row.rate, ',.0f')} events/s, source CPU {fmt(row.source_cpu, '.2f')} s/10k, "
              f"capture CPU {fmt(row.capture_cpu, '.2f')} s/10k", file=sys.stderr)

    async with slots.connect(os.environ["STREAMER_SOURCE__DSN"]) as conn:
        add("backlog, protocol reader", await bench_mode(conn, "replication", n, "protocol"))
        add("backlog, sql reader", await bench_mode(conn, "replication", n, "sql"))
        add("backlog, notify (outbox)", await bench_mode(conn, "notify", n))
        if args.producer_sweep:
            for linger, size, compression in [(5, 16_384, "none"), (20, 262_144, "none"), (5, 1_048_576, "none"),
                                              (5, 262_144, "gzip")]:
                add(f"backlog, protocol, linger {linger} ms, batch {size // 1024} KB, {compression}",
                    await bench_mode(conn, "replication", n, "protocol", produce_linger_ms=linger,
                                     produce_max_batch_bytes=size, produce_compression=compression))
        add(f"paced 200/s for {args.paced_seconds:.0f} s, protocol reader",
            await bench_paced(conn, "replication", args.paced_seconds, "protocol"))
        add(f"paced 200/s for {args.paced_seconds:.0f} s, sql reader",
            await bench_paced(conn, "replication", args.paced_seconds, "sql"))
        add("raw decode, SQL interface (ceiling)", Row("", await bench_raw(conn, n), None, None))
        streaming = await bench_raw_streaming(conn, n)
        if streaming is not None:
            add("raw decode, streaming protocol (ceiling)", Row("", streaming, None, None))
    print(f"\n{n:,} changes (49-column leads, 100 per transaction), backlog drained into Kafka; "
          f"paced: single-lead transactions at 200/s:\n")
    print("| path | events/s | source CPU s / 10k events | capture CPU s / 10k events |\n|---|---|---|---|")
    for row in rows:
        cpu = f"{fmt(row.source_cpu, '.2f')} | {fmt(row.capture_cpu, '.2f')}"
        print(f"| {row.path} | {fmt(row.rate, ',.0f')} | {cpu} |")


if __name__ == "__main__":
    asyncio.run(main())
