"""A `streamer run` child process, and what /proc says of processes: CPU seconds (utime + stime),
peak resident memory (VmHWM), the machine's load average."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx
import orjson

from benchkit.stack import REPO
from devstack.process import stop_process
from devstack.scratch import ScratchPair


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat (fields 14 and 15, after "pid (comm)")."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int, field_name: str = "VmHWM") -> float:
    """A memory figure of /proc/<pid>/status in MB: VmHWM is the peak resident set, VmRSS the current."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no {field_name} in /proc/{pid}/status")


def load_average() -> tuple[float, float, float]:
    one, five, fifteen = os.getloadavg()
    return one, five, fifteen


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def streamer_env(p: ScratchPair, port: int, components: tuple[str, ...] = ("capture", "sink"),
                 **extra: str) -> dict[str, str]:
    """`streamer run` settings for the pair: its own table, slot, publication, topic and group;
    every tuning setting at the product's default unless `extra` says otherwise."""
    s = p.services
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_")}
    env.update({
        "STREAMER_SOURCE__DSN": s.source_dsn,
        "STREAMER_SOURCE__TABLE": p.table,
        "STREAMER_SOURCE__SLOT": f"slot_{p.name}",
        "STREAMER_SOURCE__PUBLICATION": f"pub_{p.name}",
        "STREAMER_SOURCE__SNAPSHOT_MODE": "never",
        "STREAMER_KAFKA__BOOTSTRAP_SERVERS": s.kafka_bootstrap,
        "STREAMER_KAFKA__TOPIC_PREFIX": f"t{p.name}",
        "STREAMER_DESTINATION__URL": s.postgrest_url.removesuffix("/rest/v1"),
        "STREAMER_DESTINATION__SERVICE_KEY": s.service_key,
        "STREAMER_DESTINATION__DSN": s.destination_dsn,
        "STREAMER_DESTINATION__TABLE": p.table,
        "STREAMER_SINK__GROUP_ID": f"g{p.name}",
        "STREAMER_HTTP__HOST": "127.0.0.1",
        "STREAMER_HTTP__PORT": str(port),
        "STREAMER_RUN__COMPONENTS": orjson.dumps(list(components)).decode(),
        "STREAMER_LOG__FORMAT": "json",
        "STREAMER_LOG__LEVEL": "WARNING",
        "PYTHONPATH": "",
        **extra,
    })
    return env


def spawn(env: dict[str, str], log: IO[bytes], repo: Path = REPO) -> subprocess.Popen[bytes]:
    """`python -m streamer run` from `repo` (this checkout unless another is given, for a
    before/after comparison), its output into `log`."""
    return subprocess.Popen([sys.executable, "-m", "streamer", "run"], cwd=repo,
                            env=env | {"PYTHONPATH": os.pathsep.join(filter(None, [str(repo), env.get("PYTHONPATH")]))},
                            stdout=log, stderr=subprocess.STDOUT)


@dataclass
class StreamerRun:
    """`streamer run` for a scratch pair, as a child process (`async with`): ready once /readyz
    answers 200; stopped with SIGTERM (drained) at the end, SIGKILL after 30 s."""

    pair: ScratchPair
    components: tuple[str, ...] = ("capture", "sink")
    extra: dict[str, str] = field(default_factory=dict)
    repo: Path = REPO  # the checkout whose `streamer` runs
    process: subprocess.Popen[bytes] | None = None
    port: int = 0
    _log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def __aenter__(self) -> StreamerRun:
        self.port = port = free_port()
        self._log = tempfile.TemporaryFile()
        self.process = spawn(streamer_env(self.pair, port, self.components, **self.extra), self._log, self.repo)
        url, deadline = f"http://127.0.0.1:{port}/readyz", time.monotonic() + 90
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                self.alive()
                try:
                    if (await client.get(url)).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"streamer run not ready after 90 s:\n{self.output()}")
                await asyncio.sleep(0.1)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self.process is not None
        await asyncio.to_thread(stop_process, self.process, timeout=30)
        if self._log is not None:
            self._log.close()

    def alive(self) -> None:
        """Raise, with its output, if the process has exited."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"streamer run exited with {self.process.returncode}:\n{self.output()}")

    def output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-4000:]

    async def metrics(self, *names: str) -> dict[str, float]:
        """Samples of /metrics whose name (with labels) starts with one of `names`."""
        async with httpx.AsyncClient(timeout=5) as client:
            text = (await client.get(f"http://127.0.0.1:{self.port}/metrics")).text
        out = {}
        for line in text.splitlines():
            if line.startswith(names):
                key, _, value = line.rpartition(" ")
                out[key] = float(value)
        return out

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def peak_rss_mb(self) -> float:
        return memory_mb(self.pid, "VmHWM")
