#!/usr/bin/env python3
"""Where `streamer run` spends its CPU per lead (issue 13: ≤ 0.1 ms end to end).

    eval "$(.venv/bin/python -m devstack env)"
    .venv/bin/python scripts/bench_profile.py [--leads 20000] [--split] [--py-spy /path/to/py-spy]

Runs a real `streamer run` (capture + sink, defaults) on a scratch pair, writes `--leads` leads at
the source as fast as it can and waits until all landed, then prints the process's CPU per lead
(utime+stime from /proc). `--split` runs the capture and the sink as two processes, to tell their
shares apart. With py-spy (a sampling profiler; `pip install py-spy` anywhere, it attaches by
pid and needs ptrace), it also prints the functions where the samples fell: own time ("self") and
time below them ("total"), as a share of the process's samples.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from benchkit.paths import chunks
from benchkit.procs import StreamerRun, load_average
from benchkit.stack import INSERT, close, count, endpoints, pair, poll


def top(folded: Path, n: int) -> str:
    """The `n` functions with most samples, self and total, from py-spy's raw (folded) output."""
    own: Counter[str] = Counter()
    below: Counter[str] = Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        k = int(samples)
        total += k
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")"
                  if " (" in f else f for f in stack.split(";")]
        own[frames[-1]] += k
        for frame in set(frames):
            below[frame] += k
    if not total:
        return "  (no samples)"
    lines = [f"  {total:,} samples; self:"]
    lines += [f"    {100 * k / total:5.1f}%  {name}" for name, k in own.most_common(n)]
    lines.append("  total (self + callees), skipping the event loop's frames:")
    skip = ("run_forever", "_run_once", "_run (events.py)", "run (runners.py)", "<module>", "run_until_complete",
            "_run_module_as_main", "_run_code", "main (", "run (app.py", "asyncio_run", "serve (", "invoke", "__call__")
    shown = [(name, k) for name, k in below.most_common() if not any(s in name for s in skip)][:n]
    lines += [f"    {100 * k / total:5.1f}%  {name}" for name, k in shown]
    return "\n".join(lines)


def start_py_spy(py_spy: str, pid: int, rate: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling `pid` into `out` (folded stacks) until sent SIGINT."""
    return subprocess.Popen([py_spy, "record", "-p", str(pid), "-r", str(rate), "-f", "raw", "-o", str(out),
                             "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--split", action="store_true", help="capture and sink in two processes")
    parser.add_argument("--py-spy", default=shutil.which("py-spy"), help="py-spy executable (default: on PATH)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--repo", type=Path, default=None,
                        help="run the streamer of another checkout (e.g. a `git worktree` of the commit before)")
    parser.add_argument("--env", action="append", default=[], metavar="STREAMER_X__Y=V",
                        help="a setting for the streamer run process(es), repeatable")
    args = parser.parse_args()
    services, n = endpoints(), args.leads
    extra = dict(item.split("=", 1) for item in args.env)
    repo = {"repo": args.repo.resolve()} if args.repo else {}
    groups = [("capture",), ("sink",)] if args.split else [("capture", "sink")]
    p = await pair(services, "prof")
    bodies = chunks(n)
    try:
        async with contextlib.AsyncExitStack() as stack:
            runs = [await stack.enter_async_context(StreamerRun(p, components=g, extra=extra, **repo)) for g in groups]
            outs = [Path(tempfile.mkstemp(suffix=".folded")[1]) for _ in runs]
            spies = [start_py_spy(args.py_spy, r.pid, args.rate, o) for r, o in zip(runs, outs, strict=True)
                     ] if args.py_spy else []
            cpu0 = [r.cpu() for r in runs]
            for body in bodies:
                await p.source.execute(INSERT.format(table=p.table), body)

            async def landed() -> bool:
                return await count(p.destination, p.table) >= n
            await poll(landed, every=0.2, what="all landed", alive=lambda: [r.alive() for r in runs] and None)
            cpu = [r.cpu() - c for r, c in zip(runs, cpu0, strict=True)]
            for spy in spies:
                spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
            for spy in spies:
                _, err = spy.communicate(timeout=60)
                if spy.returncode not in (0, None) and err:
                    print(f"py-spy: {err.decode(errors='replace')[-500:]}", file=sys.stderr)
            print(f"{n:,} leads, load {load_average()[0]:.2f}")
            for group, spent, run, out in zip(groups, cpu, runs, outs, strict=True):
                print(f"\n{'+'.join(group)} (pid {run.pid}): {spent:.2f} s CPU = {1000 * spent / n:.3f} ms per lead; "
                      f"peak RSS {run.peak_rss_mb():.0f} MB")
                figures = await run.metrics("streamer_sink_requests_total{outcome=\"ok\"}",
                                            "streamer_sink_batch_seconds_count")
                if figures:
                    print("  " + ", ".join(f"{k} {v:,.0f}" for k, v in figures.items()))
                if spies:
                    print(top(out, args.top))
    finally:
        await close(p)


if __name__ == "__main__":
    asyncio.run(main())
