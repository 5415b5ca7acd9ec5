"""The real Prometheus scrapes a real `streamer run` (capture on a table of the test's own) and
evaluates the shipped alert rules: the key series are there and move as leads are written."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml

from devstack.stack import Endpoints
from tests.streamer.monitor.processes import (
    free_port,
    own_leads_table,
    prometheus,
    streamer_env,
    streamer_run,
    wait_ready,
)

pytestmark = pytest.mark.integration
RULES = Path(__file__).resolve().parents[2] / "monitoring" / "alerts.yml"


async def query(client: httpx.AsyncClient, expr: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/query", params={"query": expr})
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


async def value_of(client: httpx.AsyncClient, expr: str) -> float | None:
    result = await query(client, expr)
    return float(result[0]["value"][1]) if result else None


async def eventually(client: httpx.AsyncClient, expr: str, ok: Any, seconds: float = 60) -> float | None:
    """Poll `expr` until `ok(value)` holds; return the value (or fail, saying what was last seen)."""
    deadline, value = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        value = await value_of(client, expr)
        if value is not None and ok(value):
            return value
        await asyncio.sleep(0.5)
    raise AssertionError(f"{expr} = {value} after {seconds} s")


async def test_prometheus_scrapes_the_capture_and_its_counters_move(
    services: Endpoints, source_db: asyncpg.Connection, unique: str, tmp_path: Path
) -> None:
    """Through Prometheus's query API: the target is up, the capture holds its slot, and
    streamer_capture_changes_total and the behind-source histogram grow by the leads inserted."""
    port = free_port()
    async with own_leads_table(source_db, unique) as table:
        env = streamer_env(services, unique, table, port, ["capture"])
        with streamer_run(env, tmp_path / "streamer.log") as service, \
                prometheus(tmp_path, port, RULES) as prom_url:
            await wait_ready(service)
            async with httpx.AsyncClient(base_url=prom_url, timeout=5) as prom:
                await eventually(prom, 'up{job="streamer"}', lambda v: v == 1)
                await eventually(prom, 'streamer_component_up{component="capture"}', lambda v: v == 1)
                await eventually(prom, "streamer_capture_slot_active", lambda v: v == 1)
                await eventually(prom, "streamer_capture_leader", lambda v: v == 1)
                before = await value_of(prom, 'sum(streamer_capture_changes_total{op="c"})') or 0.0

                await source_db.executemany(f"INSERT INTO {table} (id, name) VALUES ($1, $2)",
                                            [(i, f"lead {i}") for i in range(1, 26)])
                await source_db.execute(f"UPDATE {table} SET name = 'renamed' WHERE id <= 5")

                created = await eventually(prom, 'sum(streamer_capture_changes_total{op="c"})',
                                           lambda v: v >= before + 25)
                assert created == before + 25
                await eventually(prom, 'sum(streamer_capture_changes_total{op="u"})', lambda v: v >= 5)
                await eventually(prom, "sum(streamer_capture_behind_source_seconds_count)", lambda v: v >= 30)
                age = await eventually(prom, "time() - streamer_capture_last_event_timestamp_seconds",
                                       lambda v: v >= 0)
                assert age is not None and age < 120
                # An unlabelled family exists at 0 from the start, so increase() sees its first changes.
                await eventually(prom, "increase(streamer_capture_behind_source_seconds_count[1m])", lambda v: v > 0)

                rules = (await prom.get("/api/v1/rules")).json()["data"]["groups"]
                evaluated = [r for g in rules for r in g["rules"]]
                shipped = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
                assert len(evaluated) == len(shipped)
                await asyncio.sleep(2)  # one more evaluation round after the data arrived
                rules = (await prom.get("/api/v1/rules")).json()["data"]["groups"]
                unhealthy = {r["name"]: r.get("lastError") for g in rules for r in g["rules"] if r["health"] != "ok"}
                assert unhealthy == {}
                firing = await query(prom, 'ALERTS{alertstate="firing"}')
                assert [a["metric"]["alertname"] for a in firing] == []
