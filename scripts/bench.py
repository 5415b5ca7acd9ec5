#!/usr/bin/env python3
"""Issue 13's figures in one run (`scripts/bench`, which brings the stack up and runs this):

    scripts/bench            # 50,000 leads, 3 interleaved rounds, ~15 minutes on 2 cores
    scripts/bench --quick    # a smoke test of every row, ~1 minute (figures meaningless)

1. Throughput, interleaved rounds, medians: a real `streamer run` process (capture + sink, every
   setting at its default) fed by inserts at the source, from the first insert to the last row
   landing; the seed-style exporter (read 50 leads by date, POST, next); direct SQL (50-row
   upserts on one connection), at +0 ms and +50 ms per destination request (the dev server's
   latency knob; a 50 ms sleep per statement for direct SQL).
2. Commit → visible at a steady 200 and 1,000 leads/s (one `streamer run`; per lead, from the
   source row's `updated_at`, set just before its INSERT, to the destination's `landed_at`).
   Beside them, the whole machine's CPU per lead (every process, all cores: /proc/stat) for the
   +0 ms pipeline and exporter, and the leads/s the pipeline's figure allows with every core busy:
   where the stack's servers share the cores, that bounds the throughput ratios.
3. `streamer run` CPU per lead (utime+stime from /proc, over the +0 ms pipeline runs) and its
   peak RSS (VmHWM) after `--memory-small` leads and after `--memory-large` in the same process.
4. Capture events/s and the source's CPU per 10k events at 200 changes/s, against Debezium 3.6.1's
   PostgreSQL connector in a Kafka Connect worker of its own (benchkit/debezium.py; leave it out
   with --no-debezium).

Every figure carries the 1-minute load average when it was taken: throughput ratios mean
something only on a quiet machine; CPU per lead depends less on the load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import TypeVar

from benchkit import capture, paths
from benchkit.debezium import NEEDS, measure_debezium
from benchkit.procs import load_average
from benchkit.stack import close, endpoints, pair
from benchkit.table import Figure, at_least, at_most, render

from connectors.postgres import slot as slots
from devstack.scratch import ScratchPair
from devstack.stack import Endpoints
from streamer.logging import configure_logging

T = TypeVar("T")
QUICK = {"leads": 500, "rounds": 1, "latency_seconds": 2.0, "memory_small": 500, "memory_large": 2000,
         "capture_changes": 1000, "paced_seconds": 2.0, "debezium_warmup": 200}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def on_pair(services: Endpoints, body: Callable[[ScratchPair], Awaitable[T]], latency_ms: int = 0) -> T:
    p = await pair(services)
    try:
        if latency_ms:
            await p.admin("POST", "faults", latency_ms=latency_ms, table=p.table)
        return await body(p)
    finally:
        if latency_ms:
            await p.admin("DELETE", "faults")
        await close(p)


def median(values: list[float]) -> float:
    return statistics.median(values)


Runs = dict[tuple[str, int], list[float]]  # (path, latency ms) -> one value per round


async def throughput(services: Endpoints, n: int, rounds: int
                     ) -> tuple[Runs, Runs, list[paths.PipelineFigures], list[paths.ExportFigures]]:
    """Interleaved rounds of the three paths at +0 and +50 ms: leads/s and the load, per round;
    the +0 ms pipeline's and exporter's figures."""
    rates: Runs = defaultdict(list)
    loads: Runs = defaultdict(list)
    fast_pipelines: list[paths.PipelineFigures] = []
    fast_exports: list[paths.ExportFigures] = []
    for r in range(1, rounds + 1):
        for latency in (0, 50):
            for name in ("pipeline", "seed-way", "direct SQL"):
                if name == "pipeline":
                    figures = await on_pair(services, lambda p: paths.pipeline(p, n), latency)
                    rate = figures.rate
                    if latency == 0:
                        fast_pipelines.append(figures)
                elif name == "seed-way":
                    export = await on_pair(services, lambda p: paths.seed_way(p, n), latency)
                    rate = export.rate
                    if latency == 0:
                        fast_exports.append(export)
                else:
                    rate = await on_pair(services, lambda p, lat=latency: paths.direct_sql(p, n, lat))  # type: ignore[misc]
                rates[(name, latency)].append(rate)
                loads[(name, latency)].append(load_average()[0])
                say(f"  round {r}: {name:<10} +{latency:>2} ms  {rate:>8,.0f} leads/s   load {load_average()[0]:.2f}")
    return rates, loads, fast_pipelines, fast_exports


async def debezium_figures(services: Endpoints, changes: int, paced_seconds: float, warmup: int) -> object:
    return await measure_debezium(services, changes=changes, paced_seconds=paced_seconds, warmup=warmup)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=50_000, help="leads per throughput run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-seconds", type=float, default=20.0, help="seconds at each steady rate")
    parser.add_argument("--memory-small", type=int, default=5_000)
    parser.add_argument("--memory-large", type=int, default=200_000)
    parser.add_argument("--capture-changes", type=int, default=30_000)
    parser.add_argument("--paced-seconds", type=float, default=20.0)
    parser.add_argument("--debezium-warmup", type=int, default=5_000,
                        help="changes through a throwaway Debezium connector first (its JVM warmed)")
    parser.add_argument("--no-debezium", action="store_true", help="leave out the two Debezium rows")
    parser.add_argument("--quick", action="store_true", help="tiny counts, one round: checks every row prints")
    args = parser.parse_args()
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    configure_logging(level="WARNING")  # the in-process capture runs (Debezium rows) would log each start
    services = endpoints()
    n = args.leads
    start_load = load_average()
    say(f"scripts/bench: {n:,} leads per throughput run, {args.rounds} round(s); load {start_load}")

    rates, loads, fast, exports = await throughput(services, n, args.rounds)

    def rate(name: str, latency: int) -> float:
        return median(rates[(name, latency)])

    def load_of(name: str, latency: int) -> float:
        return median(loads[(name, latency)])

    say("  steady rates ...")
    latencies = await on_pair(services, lambda p: paths.steady_latencies(p, (200, 1000), args.latency_seconds))
    say("  memory ...")
    mem = await on_pair(services, lambda p: paths.memory(p, args.memory_small, args.memory_large))
    say("  capture ...")
    async with slots.connect(services.source_dsn) as conn:
        ours_backlog = await capture.bench_mode(conn, "replication", args.capture_changes, "protocol")
        backlog_load = load_average()[0]
        ours_paced = await capture.bench_paced(conn, "replication", args.paced_seconds, "protocol")
        paced_load = load_average()[0]
    dbz = None
    if not args.no_debezium:
        say("  debezium ...")
        dbz = await debezium_figures(services, args.capture_changes, args.paced_seconds, args.debezium_warmup)

    figures: list[Figure] = []
    p0, s0, d0 = rate("pipeline", 0), rate("seed-way", 0), rate("direct SQL", 0)
    p50, s50 = rate("pipeline", 50), rate("seed-way", 50)
    figures.append(Figure("pipeline leads/s vs seed-style exporter, +0 ms", f"{p0:,.0f}/s", f"{s0:,.0f}/s",
                          ratio=p0 / s0, target="≥ 1.5×", check=at_least(1.5), load=load_of("pipeline", 0)))
    figures.append(Figure("pipeline leads/s vs direct SQL (50-row batches, 1 connection), +0 ms", f"{p0:,.0f}/s",
                          f"{d0:,.0f}/s", ratio=p0 / d0, target="≥ 0.6×", check=at_least(0.6),
                          load=load_of("direct SQL", 0)))
    figures.append(Figure("pipeline leads/s vs seed-style exporter, +50 ms per request", f"{p50:,.0f}/s",
                          f"{s50:,.0f}/s", ratio=p50 / s50, target="≥ 20×", check=at_least(20),
                          load=load_of("pipeline", 50)))
    d50 = rate("direct SQL", 50)
    figures.append(Figure("pipeline leads/s vs direct SQL, +50 ms per statement (no target)", f"{p50:,.0f}/s",
                          f"{d50:,.0f}/s", ratio=p50 / d50, load=load_of("direct SQL", 50)))
    machine = median([f.machine_ms_per_lead for f in fast])
    machine_export = median([f.machine_ms_per_lead for f in exports])
    figures.append(Figure("machine CPU per lead, every process, pipeline vs seed-style exporter, +0 ms (no target)",
                          f"{machine:.3f} ms", f"{machine_export:.3f} ms", ratio=machine / machine_export,
                          load=load_of("pipeline", 0)))
    cores = os.cpu_count() or 1
    figures.append(Figure(f"pipeline leads/s its machine CPU per lead allows on {cores} busy cores, vs seed-style "
                          "exporter, +0 ms (no target)", f"{cores * 1000 / machine:,.0f}/s", f"{s0:,.0f}/s",
                          ratio=cores * 1000 / machine / s0, load=load_of("pipeline", 0)))
    for lat in latencies:
        targets = lat.rate == 1000
        figures.append(Figure(f"commit → visible p50, steady {lat.rate:,} leads/s", f"{lat.p50_ms:.0f} ms",
                              value=lat.p50_ms, target="≤ 100 ms" if targets else "—",
                              check=at_most(100) if targets else None, load=lat.load))
        figures.append(Figure(f"commit → visible p99, steady {lat.rate:,} leads/s", f"{lat.p99_ms:.0f} ms",
                              value=lat.p99_ms, target="≤ 300 ms" if targets else "—",
                              check=at_most(300) if targets else None, load=lat.load))
    cpu = median([f.cpu_ms_per_lead for f in fast])
    figures.append(Figure("`streamer run` CPU per lead (capture + sink, +0 ms runs)", f"{cpu:.3f} ms",
                          value=cpu, target="≤ 0.1 ms", check=at_most(0.1),
                          load=median([f.load for f in fast])))
    figures.append(Figure(f"`streamer run` peak RSS, {mem.small:,} → {mem.large:,} leads",
                          f"{mem.small_mb:.0f} → {mem.large_mb:.0f} MB", f"{mem.small_mb:.0f} MB",
                          ratio=mem.large_mb / mem.small_mb, target="≤ 1.10× (flat ± 10%)",
                          check=at_most(1.10), load=mem.load))
    events = ours_backlog.rate or 0.0
    source_cpu = ours_paced.source_cpu
    if isinstance(dbz, dict):
        figures.append(Figure("capture events/s vs Debezium 3.6.1", f"{events:,.0f}/s",
                              f"{dbz['events_per_second']:,.0f}/s", ratio=events / dbz["events_per_second"],
                              target="≥ 2×", check=at_least(2), load=backlog_load))
        ours = "—" if source_cpu is None else f"{source_cpu:.2f} s"
        figures.append(Figure("source CPU per 10k events at 200/s vs Debezium", ours,
                              f"{dbz['source_cpu_per_10k']:.2f} s",
                              ratio=None if source_cpu is None else source_cpu / dbz["source_cpu_per_10k"],
                              target="≤ 1×", check=at_most(1), load=paced_load))
    else:
        figures.append(Figure("capture events/s vs Debezium 3.6.1", f"{events:,.0f}/s", target="≥ 2×",
                              load=backlog_load, missing=NEEDS))
        figures.append(Figure("source CPU per 10k events at 200/s vs Debezium",
                              "—" if source_cpu is None else f"{source_cpu:.2f} s", target="≤ 1×",
                              load=paced_load, missing=NEEDS))

    end_load = load_average()
    print(f"\n{n:,} leads per throughput run, medians of {args.rounds} interleaved round(s); "
          f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}); "
          f"load average at start {start_load[0]:.2f} {start_load[1]:.2f} {start_load[2]:.2f}, "
          f"at end {end_load[0]:.2f} {end_load[1]:.2f} {end_load[2]:.2f}\n")
    print(render(figures))
    print("\nThroughput ratios hold only on a quiet machine: re-measure when the load average is near 0.")


if __name__ == "__main__":
    asyncio.run(main())
