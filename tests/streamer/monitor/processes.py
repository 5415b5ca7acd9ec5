"""Real processes for the monitoring integration tests: `streamer run` on a port of the test's own,
with the capture on a leads table, slot, publication and topic prefix of its own; and a
Prometheus of the test's own scraping it."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from connectors.postgres import slot as slots
from devstack.process import stop_process
from devstack.stack import Endpoints

REPO = Path(__file__).resolve().parents[3]
STREAMER = Path(sys.executable).with_name("streamer")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@asynccontextmanager
async def own_leads_table(conn: asyncpg.Connection, unique: str) -> AsyncIterator[str]:
    """A copy of `leads` owned by the test; its publication, slot and capture state dropped after."""
    name = f"leads_{unique}"
    await conn.execute(f"CREATE TABLE {name} (LIKE leads INCLUDING ALL)")
    await conn.execute(f"ALTER TABLE {name} REPLICA IDENTITY FULL")
    try:
        yield name
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {name}")
        await conn.execute("DELETE FROM streamer_capture_state WHERE name LIKE $1", f"%{unique}%")
        await conn.execute(f"DROP PUBLICATION IF EXISTS pub_{unique}")
        for _ in range(50):  # the walsender may take a moment to let go of the slot
            try:
                await slots.drop_slot(conn, f"slot_{unique}")
                break
            except Exception:
                await asyncio.sleep(0.2)


@dataclass
class Service:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def streamer_env(services: Endpoints, unique: str, table: str | None, port: int, components: list[str],
                 **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_")}
    env.update({
        "STREAMER_SOURCE__DSN": services.source_dsn,
        "STREAMER_KAFKA__BOOTSTRAP_SERVERS": services.kafka_bootstrap,
        "STREAMER_KAFKA__TOPIC_PREFIX": f"t{unique}",
        "STREAMER_KAFKA__PARTITIONS": "1",
        "STREAMER_SOURCE__SLOT": f"slot_{unique}",
        "STREAMER_SOURCE__PUBLICATION": f"pub_{unique}",
        "STREAMER_SOURCE__SNAPSHOT_MODE": "never",
        "STREAMER_SOURCE__HEARTBEAT_SECONDS": "2",
        "STREAMER_HTTP__PORT": str(port),
        "STREAMER_RUN__COMPONENTS": orjson.dumps(components).decode(),
        "STREAMER_RUN__SHUTDOWN_GRACE_SECONDS": "10",
        "STREAMER_LOG__FORMAT": "json",
        # This checkout's code, whichever checkout the environment's `streamer` was installed from.
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
        **extra,
    })
    if table:
        env["STREAMER_SOURCE__TABLE"] = table
    return env


@contextmanager
def streamer_run(env: dict[str, str], log: Path) -> Iterator[Service]:
    """`streamer run` as a child process; stopped with SIGTERM (then SIGKILL) at the end."""
    with log.open("wb") as out:
        process = subprocess.Popen([str(STREAMER), "run"], env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    service = Service(f"http://127.0.0.1:{env['STREAMER_HTTP__PORT']}", process, log)
    try:
        yield service
    finally:
        stop_process(process, timeout=20)


async def wait_ready(service: Service, seconds: float = 60) -> dict[str, Any]:
    """Wait until /readyz says ready (every component up); fail with the process's output if not."""
    deadline = time.monotonic() + seconds
    last: Any = None
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            assert service.process.poll() is None, f"streamer exited:\n{service.output()}"
            try:
                response = await client.get(f"{service.url}/readyz")
                last = response.json()
                if response.status_code == 200:
                    return dict(last)
            except httpx.HTTPError as exc:
                last = exc
            await asyncio.sleep(0.2)
    raise AssertionError(f"not ready after {seconds} s: {last}\n{service.output()}")


PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [{rules}]
scrape_configs:
  - job_name: streamer
    static_configs:
      - targets: ['127.0.0.1:{port}']
"""


@contextmanager
def prometheus(home: Path, scrape_port: int, rules: Path) -> Iterator[str]:
    """A Prometheus of the test's own (Debian's binary) scraping 127.0.0.1:`scrape_port` every second."""
    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("CI") == "true":  # a missing tool fails in CI, never skips (tests/test_compose.py)
            pytest.fail("prometheus is missing in CI: scripts/bootstrap installs it")
        pytest.skip("prometheus not found: apt-get install prometheus (scripts/bootstrap installs it)")
    port = free_port()
    config = home / "prometheus.yml"
    config.write_text(PROMETHEUS_CONFIG.format(rules=rules, port=scrape_port))
    log = home / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={home / 'data'}",
                                    f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                                   stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"prometheus exited:\n{log.read_text()[-3000:]}"
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "prometheus not ready after 30 s"
            time.sleep(0.2)
        yield url
    finally:
        stop_process(process, timeout=15)
