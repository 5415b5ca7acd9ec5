"""Where the whole machine's CPU goes while a benchmark path runs: every process's utime + stime
from /proc, grouped by what it is (each PostgreSQL server, the broker, the development server,
`streamer run`, the benchmark itself), and the machine's busy time from /proc/stat.

A PostgreSQL server's figure is its postmaster's own CPU, its live children's, and the children
that exited and were reaped during the window (the postmaster's cutime + cstime), so a backend
that ends before the second snapshot is still counted."""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    cpu: float  # own utime + stime, seconds
    reaped: float  # cutime + cstime: children waited for, seconds
    args: str


def _proc(pid: int) -> Proc | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:  # gone between the listing and the read
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return Proc(pid, int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK,
                (int(fields[13]) + int(fields[14])) / TICK, args)


def processes() -> dict[int, Proc]:
    found = (_proc(int(d)) for d in os.listdir("/proc") if d.isdigit())
    return {p.pid: p for p in found if p is not None}


def busy_seconds() -> float:
    """The machine's non-idle CPU time since boot, all cores (/proc/stat's first line)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICK


def group_of(proc: Proc, procs: dict[int, Proc], named: dict[int, str]) -> str:
    """What a process is: a pid the caller named, a PostgreSQL server by its data directory's
    name, the broker, the development server, or "other"."""
    if proc.pid in named:
        return named[proc.pid]
    postmaster = proc if " -D " in proc.args and "postgres" in proc.args else procs.get(proc.ppid)
    if postmaster is not None and " -D " in postmaster.args and "postgres" in postmaster.args:
        return f"postgres {Path(postmaster.args.split(' -D ', 1)[1].split()[0]).name}"
    if "kafka" in proc.args and "java" in proc.args:
        return "kafka broker"
    if "-m devserver" in proc.args:
        return "development server"
    return "other"


@dataclass(frozen=True)
class Snapshot:
    procs: dict[int, Proc]
    busy: float

    @classmethod
    def take(cls) -> Snapshot:
        return cls(processes(), busy_seconds())

    def cpu_by_group(self, later: Snapshot, named: dict[int, str]) -> dict[str, float]:
        """CPU seconds each group spent between this snapshot and `later`; "machine busy" is the
        whole machine's (kernel work no process is charged for included)."""
        spent: dict[str, float] = defaultdict(float)
        for pid, now in later.procs.items():
            before = self.procs.get(pid)
            if before is not None and before.args != now.args and not before.args.startswith("postgres"):
                before = None  # the pid was reused
            own = now.cpu - (before.cpu if before else 0.0)
            group = group_of(now, later.procs, named)
            spent[group] += own
            if group.startswith("postgres") and " -D " in now.args:  # the postmaster: reaped backends
                spent[group] += now.reaped - (before.reaped if before else 0.0)
        spent["machine busy"] = later.busy - self.busy
        return dict(spent)
