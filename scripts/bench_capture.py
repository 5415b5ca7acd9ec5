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
The measuring pieces are shared with `scripts/bench` (scripts/benchkit/capture.py).
--producer-sweep adds protocol rows with other producer batching / compression settings.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

import asyncpg
from benchkit.capture import Row, bench_mode, bench_paced, slot_backlog

from connectors.postgres import slot as slots
from connectors.postgres.assembler import TransactionAssembler
from connectors.postgres.pgoutput import decode
from streamer.capture.events import from_pgoutput


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
