"""`scripts/benchkit/machine.py`: the whole machine's CPU, by what each process is, which
`scripts/bench` and `scripts/bench_machine.py` print per lead. Read from /proc, so tested on real
processes: a busy child of this test, and a PostgreSQL backend that exits inside the window."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
import time
from types import ModuleType

import asyncpg
import pytest

from devstack.stack import Endpoints
from tests.services import REPO


def _machine() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_machine_snapshots", REPO / "scripts/benchkit/machine.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


machine = _machine()
BURN = "import time\nend = time.process_time() + {s}\nwhile time.process_time() < end: pass"


def test_a_named_process_is_charged_its_own_cpu_and_the_machine_at_least_as_much() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys\nsys.stdin.read(1)\n" + BURN.format(s=0.4)],
                             stdin=subprocess.PIPE)
    try:
        before = machine.Snapshot.take()
        assert child.stdin is not None
        child.stdin.write(b"x")
        child.stdin.flush()
        for _ in range(250):  # until it has burnt its 0.4 s
            if machine.processes()[child.pid].cpu >= 0.4:
                break
            time.sleep(0.02)
        spent = before.cpu_by_group(machine.Snapshot.take(), {child.pid: "burner"})
    finally:
        child.kill()
        child.communicate()  # closes its stdin
    assert 0.35 <= spent["burner"] <= 1.0, spent
    assert spent["machine busy"] >= 0.9 * spent["burner"], spent


@pytest.mark.integration
async def test_a_postgres_backend_that_exits_in_the_window_is_still_charged_to_its_server(
        services: Endpoints) -> None:
    before = machine.Snapshot.take()
    conn = await asyncpg.connect(services.source_dsn)
    try:
        await conn.execute("SELECT count(*) FROM generate_series(1, 5000000)")
    finally:
        await conn.close()
    for _ in range(50):  # the postmaster reaps the backend once it exits
        spent = before.cpu_by_group(machine.Snapshot.take(), {})
        if max((v for k, v in spent.items() if k.startswith("postgres ")), default=0.0) >= 0.2:
            break
        await asyncio.sleep(0.05)
    servers = {k: v for k, v in spent.items() if k.startswith("postgres ")}
    assert max(servers.values(), default=0.0) >= 0.2, spent
