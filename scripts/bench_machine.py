#!/usr/bin/env python3
"""Where the whole machine's CPU goes per lead, for each of `scripts/bench`'s throughput paths.

    eval "$(.venv/bin/python -m devstack env)"
    .venv/bin/python scripts/bench_machine.py [--leads 20000] [--rounds 2]

On a machine where every server of the stack shares the same cores, a path's leads/s is bounded
by the CPU every process in it spends per lead, not by `streamer run`'s alone. This runs, each on
a scratch pair, interleaved, `--rounds` times: a real `streamer run` (capture + sink, defaults)
fed by inserts at the source, from the first insert to the last row landing (the inserts'
own cost, at the source and in this process, is inside its window, as in `scripts/bench`); the
seed-style exporter over leads written before its clock starts; and direct SQL (50-row upserts,
one connection). Around each it snapshots every process's CPU (benchkit/machine.py) and prints,
per group of processes, milliseconds of CPU per lead, medians of the rounds, and the machine's
busy time per lead (all cores, the kernel's work for loopback traffic included).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable

from benchkit import paths
from benchkit.machine import Snapshot
from benchkit.procs import StreamerRun, load_average
from benchkit.stack import INSERT, close, count, endpoints, pair, poll

from devstack.scratch import ScratchPair

Measured = tuple[float, dict[str, float]]  # leads/s, CPU seconds by group


async def pipeline(p: ScratchPair, n: int) -> Measured:
    bodies = paths.chunks(n)
    async with StreamerRun(p) as run:
        before, began = Snapshot.take(), time.monotonic()
        for body in bodies:
            await p.source.execute(INSERT.format(table=p.table), body)

        async def landed() -> bool:
            return await count(p.destination, p.table) >= n
        await poll(landed, every=0.05, what=f"{n:,} leads landed", alive=run.alive)
        elapsed = time.monotonic() - began
        spent = before.cpu_by_group(Snapshot.take(), {run.pid: "streamer run", os.getpid(): "this benchmark"})
    return n / elapsed, spent


async def exporter(p: ScratchPair, n: int) -> Measured:
    for body in paths.chunks(n):
        await p.source.execute(INSERT.format(table=p.table), body)
    before = Snapshot.take()
    rate = await paths.export_seed_way(p, n)
    return rate, before.cpu_by_group(Snapshot.take(), {os.getpid(): "this benchmark"})


async def direct(p: ScratchPair, n: int) -> Measured:
    statements = paths.direct_sql_statements(p, n)
    before = Snapshot.take()
    rate = await paths.run_statements(p, n, *statements, 0)
    return rate, before.cpu_by_group(Snapshot.take(), {os.getpid(): "this benchmark"})


PATHS: dict[str, Callable[[ScratchPair, int], Awaitable[Measured]]] = {
    "pipeline": pipeline, "seed exporter": exporter, "direct SQL": direct}
ORDER = ("streamer run", "postgres source", "postgres destination", "kafka broker", "development server",
         "this benchmark", "other", "machine busy")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    services, n = endpoints(), args.leads
    rates: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    loads: list[float] = []
    for r in range(args.rounds):
        for name, path in PATHS.items():
            print(f"round {r + 1}: {name} (load {load_average()[0]:.2f})", file=sys.stderr, flush=True)
            p = await pair(services, "mach")
            try:
                rate, spent = await path(p, n)
            finally:
                await close(p)
            loads.append(load_average()[0])
            rates[name].append(rate)
            for group in set(ORDER) | set(spent):
                cpu[name][group].append(spent.get(group, 0.0))
    names = list(PATHS)
    groups = [g for g in ORDER if any(any(cpu[x][g]) for x in names)]
    print(f"{n:,} leads a run, {args.rounds} rounds, medians; load average {min(loads):.2f}–{max(loads):.2f}; "
          f"{os.cpu_count()} cores\n")
    print("| ms of CPU per lead | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for group in groups:
        cells = [f"{1000 * statistics.median(cpu[x][group]) / n:.3f}" for x in names]
        print(f"| {group} | " + " | ".join(cells) + " |")
    print("| leads/s | " + " | ".join(f"{statistics.median(rates[x]):,.0f}" for x in names) + " |")
    busy = {x: statistics.median(cpu[x]["machine busy"]) / n for x in names}
    cores = os.cpu_count() or 1
    print("| leads/s the machine's busy time per lead allows on all cores | "
          + " | ".join(f"{cores / busy[x]:,.0f}" for x in names) + " |")


if __name__ == "__main__":
    asyncio.run(main())
