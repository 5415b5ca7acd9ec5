#!/usr/bin/env python3
"""Commit → visible alone: `scripts/bench`'s latency rows (issue 13: p50 ≤ 100 ms, p99 ≤ 300 ms at
a steady 1,000 leads/s), without its throughput, memory and capture rows.

    eval "$(.venv/bin/python -m devstack env)"
    .venv/bin/python scripts/bench_latency.py [--rates 200,1000] [--seconds 20] [--rounds 1]
        [--repo /path/to/other/checkout] [--env STREAMER_X__Y=V ...]

Each round runs one `streamer run` (capture + sink, defaults) on a fresh scratch pair and writes
leads at each rate in turn (benchkit/paths.py `steady_latencies`: per lead, from the source row's
`updated_at`, set just before its INSERT, to the destination's `landed_at`). `--repo` runs
another checkout's streamer (the commit before a change, unpacked with `git archive`), so before
and after can be alternated round by round with `--repo` given or not; `--env` passes settings
to the streamer process. Each line carries the 1-minute load average: on a shared machine p99s
are noisy, so compare runs taken side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from benchkit.paths import steady_latencies
from benchkit.procs import load_average
from benchkit.stack import REPO, close, endpoints, pair


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="200,1000", help="leads/s, comma-separated, run in turn")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds at each rate")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose streamer runs")
    parser.add_argument("--env", action="append", default=[], metavar="STREAMER_X__Y=V",
                        help="a setting for the streamer run process, repeatable")
    args = parser.parse_args()
    try:
        rates = tuple(int(r) for r in args.rates.split(","))
    except ValueError:
        sys.exit(f"--rates: expected whole numbers separated by commas, got {args.rates!r}")
    bad = [item for item in args.env if "=" not in item]
    if bad:
        sys.exit(f"--env: expected NAME=VALUE, got {bad[0]!r}")
    extra = dict(item.split("=", 1) for item in args.env)
    services = endpoints()
    print(f"streamer of {args.repo.resolve()}; {args.seconds:.0f} s per rate; load {load_average()[0]:.2f}")
    for r in range(1, args.rounds + 1):
        p = await pair(services, "lat")
        try:
            figures = await steady_latencies(p, rates, args.seconds, repo=args.repo.resolve(), extra=extra)
        finally:
            await close(p)
        for f in figures:
            print(f"round {r}: {f.rate:>6,} leads/s  {f.leads:>6,} leads  p50 {f.p50_ms:6.0f} ms  "
                  f"p99 {f.p99_ms:6.0f} ms  load {f.load:.2f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
