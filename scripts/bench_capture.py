#!/usr/bin/env python3
"""Capture benchmark (issue 4): changes/s captured into Kafka, both modes, beside the ceiling.

    eval "$(.venv/bin/python -m devstack env)"; .venv/bin/python scripts/bench_capture.py [--changes 100000]

For each row, a backlog of N changes (inserts of realistic 49-column leads, 100 per transaction)
is written while the slot / outbox trigger already exists but no capture runs; then the clock
starts and stops when Kafka has acknowledged all N events:
  replication   pgoutput slot read through the SQL interface, produced with acks=all
  notify        trigger outbox drained in id order, produced, rows deleted after the acks
  raw decode    the same slot backlog peeked and decoded alone, no Kafka (the ceiling), read
                through the SQL interface the capture uses (peek + advance), and through the
                streaming replication protocol (START_REPLICATION over psycopg2, a dev dependency:
                asyncpg cannot speak it) — the measurement behind the capture's choice of interface
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

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
from streamer.config import Settings  # noqa: E402
from streamer.metrics import Metrics  # noqa: E402
from streamer.sections import SourceSettings  # noqa: E402


def settings(mode: str, name: str) -> Settings:
    env = os.environ
    return Settings(
        source=SourceSettings(dsn=env["STREAMER_SOURCE__DSN"], table=f"leads_{name}", capture_mode=mode,  # type: ignore[arg-type]
                              slot=f"slot_{name}", publication=f"pub_{name}", snapshot_mode="never"),
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


async def captured(s: Settings, n: int, stopping: asyncio.Event) -> float:
    """Run the capture until all `n` events are on the topic; return changes/s."""
    component = CaptureComponent(s, Metrics())
    began = time.monotonic()
    task = asyncio.create_task(component.run(stopping))
    for _ in itertools.count():
        if task.done():
            task.result()
        if component.ready() and await on_topic(s) >= n:
            break
        await asyncio.sleep(0.1)
    elapsed = time.monotonic() - began
    stopping.set()
    await task
    return n / elapsed


async def bench_mode(conn: asyncpg.Connection, mode: str, n: int) -> float:
    name = "c" + uuid.uuid4().hex[:8]
    s = settings(mode, name)
    await conn.execute(f"CREATE TABLE {s.source.table} (LIKE leads INCLUDING ALL)")
    await conn.execute(f"ALTER TABLE {s.source.table} REPLICA IDENTITY FULL")
    try:
        if mode == "replication":
            await slots.ensure_publication(conn, s.source.publication, s.source.table)
            await slots.ensure_slot(conn, s.source.slot)
        else:
            await OutboxSource(conn, s.source, Metrics()).prepare()
        await backlog(conn, s.source.table, n)
        return await captured(s, n, asyncio.Event())
    finally:
        await conn.execute(f"DROP TABLE {s.source.table}")
        await conn.execute(f"DROP PUBLICATION IF EXISTS {s.source.publication}")
        await slots.drop_slot(conn, s.source.slot)
        await conn.execute("DELETE FROM streamer_outbox")


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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=100_000)
    args = parser.parse_args()
    async with slots.connect(os.environ["STREAMER_SOURCE__DSN"]) as conn:
        rows = [("replication", await bench_mode(conn, "replication", args.changes)),
                ("notify", await bench_mode(conn, "notify", args.changes)),
                ("raw decode, SQL interface (ceiling)", await bench_raw(conn, args.changes))]
        streaming = await bench_raw_streaming(conn, args.changes)
        if streaming is not None:
            rows.append(("raw decode, streaming protocol", streaming))
    print(f"\n{args.changes:,} changes (49-column leads, 100 per transaction), backlog drained into Kafka:\n")
    print("| path | changes/s |\n|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate:,.0f} |")


if __name__ == "__main__":
    asyncio.run(main())
