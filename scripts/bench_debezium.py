#!/usr/bin/env python3
"""Our capture beside Debezium 3.6.1's PostgreSQL connector (issue 13), the same workload on the
same source database and Kafka, measured the same way (scripts/bench_capture.py for ours,
devstack/debezium_bench.py for Debezium's, in Kafka Connect standalone from Maven jars):

    eval "$(.venv/bin/python -m devstack env)"
    .venv/bin/python scripts/bench_debezium.py [--changes 50000] [--paced-seconds 20] [--rounds 1]

  bulk    N inserts of 49-column leads (100 per transaction) committed while the slot exists and
          nothing reads it; events/s from the capture's (connector's) start until Kafka holds all N.
  paced   single-lead transactions at 200/s for --paced-seconds while it streams; the source's CPU
          (walsender + sessions, /proc/<pid>/stat) per 10k events over that window.

Rounds alternate ours and Debezium's; the table shows medians and the ratios issue 13 tracks
(events/s ours ÷ Debezium's, must reach ≥ 2×; paced source CPU ours ÷ Debezium's, must be ≤ 1×).
Debezium's connector first drains --warmup changes through a throwaway connector (a warm JVM).
Run it on the database's machine, as a user who can read the server's /proc entries.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_capture  # noqa: E402  (this folder)

from connectors.postgres import slot as slots  # noqa: E402
from devstack.connect import running_worker  # noqa: E402
from devstack.debezium_bench import DEBEZIUM_VERSION, DebeziumFigures, measure_debezium  # noqa: E402
from devstack.settings import DevStackSettings  # noqa: E402


def median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def ratio(ours: float | None, theirs: float | None) -> str:
    return "–" if ours is None or not theirs else f"{ours / theirs:.2f}×"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=50_000)
    parser.add_argument("--paced-seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=5_000)
    args = parser.parse_args()
    dsn, bootstrap = os.environ["STREAMER_SOURCE__DSN"], os.environ["STREAMER_KAFKA__BOOTSTRAP_SERVERS"]
    ours_rate: list[float | None] = []
    ours_bulk_cpu: list[float | None] = []
    ours_paced_cpu: list[float | None] = []
    theirs: list[DebeziumFigures] = []
    cache = DevStackSettings().dir.resolve() / "connect"
    with tempfile.TemporaryDirectory(prefix="bench-connect-") as home:
        began = time.monotonic()
        with running_worker(cache, Path(home), bootstrap) as worker:
            print(f"Kafka Connect up in {time.monotonic() - began:.1f} s", file=sys.stderr)
            for r in range(args.rounds):
                async with slots.connect(dsn) as conn:
                    bulk = await bench_capture.bench_mode(conn, "replication", args.changes, "protocol")
                    paced = await bench_capture.bench_paced(conn, "replication", args.paced_seconds, "protocol")
                ours_rate.append(bulk.rate)
                ours_bulk_cpu.append(bulk.source_cpu)
                ours_paced_cpu.append(paced.source_cpu)
                figures = await measure_debezium(dsn, bootstrap, changes=args.changes, paced_seconds=args.paced_seconds,
                                                 warmup=args.warmup if r == 0 else 0, worker=worker)
                theirs.append(figures)
                print(f"  round {r + 1}: ours {fmt(bulk.rate, ',.0f')} events/s, paced CPU "
                      f"{fmt(paced.source_cpu, '.2f')} s/10k; Debezium {figures.bulk_events_per_second:,.0f} events/s, "
                      f"(its first event {figures.bulk_first_event_seconds:.1f} s after the connector's creation), "
                      f"paced CPU {fmt(figures.paced_source_cpu_per_10k, '.2f')} s/10k", file=sys.stderr)
    rows = [
        ("capture events/s, bulk", median(ours_rate), median([f.bulk_events_per_second for f in theirs]), ",.0f"),
        ("source CPU s / 10k events, bulk", median(ours_bulk_cpu),
         median([f.bulk_source_cpu_per_10k for f in theirs]), ".2f"),
        ("source CPU s / 10k events, paced 200/s", median(ours_paced_cpu),
         median([f.paced_source_cpu_per_10k for f in theirs]), ".2f"),
    ]
    load = os.getloadavg()
    print(f"\n{args.changes:,} changes (49-column leads, 100 per transaction); paced: single-lead transactions "
          f"at 200/s for {args.paced_seconds:.0f} s; medians of {args.rounds} round(s); "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs\n")
    print(f"| figure | ours (protocol reader) | Debezium {DEBEZIUM_VERSION} | ours ÷ Debezium |\n|---|---|---|---|")
    for name, ours, dbz, spec in rows:
        print(f"| {name} | {fmt(ours, spec)} | {fmt(dbz, spec)} | {ratio(ours, dbz)} |")


if __name__ == "__main__":
    asyncio.run(main())
