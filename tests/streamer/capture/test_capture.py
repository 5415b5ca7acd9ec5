"""The capture on real PostgreSQL and Kafka: nothing lost, each lead's changes in commit order."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from connectors.postgres import slot as slots
from devstack.stack import Endpoints
from schemas.debezium import PLACEHOLDER
from streamer.capture.component import CaptureComponent
from streamer.config import Settings
from streamer.metrics import Metrics
from tests.streamer.capture.conftest import capture_settings, read_topic, run_capture
from tests.streamer.capture.workload import Workload, change_of

pytestmark = pytest.mark.integration
MODES = ["replication", "notify"]


def ours(table: str) -> Any:
    return lambda event: event["source"]["table"] == table


@pytest.mark.parametrize("mode", MODES)
async def test_ten_thousand_mixed_changes_reach_kafka_in_commit_order_per_lead(
    services: Endpoints, source_db: asyncpg.Connection, capture_table: str, unique: str, mode: str
) -> None:
    """Every insert, update and delete of 10,000 in multi-row transactions is on the topic once,
    and each lead's events are in the order their transactions committed."""
    settings = capture_settings(services, unique, capture_table, mode)
    stopping = asyncio.Event()
    task = await run_capture(settings, stopping)
    workload = Workload(capture_table, seed=11)
    await workload.run(source_db, 10_000)
    events = await read_topic(settings.kafka, settings.kafka.leads_topic,
                              until=lambda evs: len(evs) >= workload.changes, seconds=180)
    stopping.set()
    await asyncio.wait_for(task, 30)

    assert all(ours(capture_table)(e) for e in events)
    got: dict[int, list[tuple[int, str, int]]] = {}
    for event in events:
        change = change_of(event)
        got.setdefault(change[0], []).append(change)
    assert len(events) == workload.changes == 10_000
    assert got == workload.history


async def test_an_unchanged_toasted_value_is_carried_not_nulled(
    services: Endpoints, source_db: asyncpg.Connection, capture_table: str, unique: str
) -> None:
    """An update that leaves a >8 KB text column alone still carries that column's value."""
    settings = capture_settings(services, unique, capture_table)
    stopping = asyncio.Event()
    task = await run_capture(settings, stopping)
    big = "".join(random.Random(3).choices("abcdefghijklmnopqrstuvwxyz ", k=20_000))  # stored out of line
    await source_db.execute(f"INSERT INTO {capture_table} (id, observacoes, etapa) VALUES (1, $1, 'novo')", big)
    await source_db.execute(f"UPDATE {capture_table} SET etapa = 'agendado' WHERE id = 1")
    events = await read_topic(settings.kafka, settings.kafka.leads_topic, until=lambda evs: len(evs) >= 2)
    stopping.set()
    await asyncio.wait_for(task, 30)
    update = [e for e in events if e["op"] == "u"][0]
    assert update["after"]["etapa"] == "agendado"
    assert update["after"]["observacoes"] == big
    assert "unchanged_toast" not in update  # the legacy format's field
    assert PLACEHOLDER not in update["after"].values()


async def test_the_initial_snapshot_emits_existing_rows_then_streams(
    services: Endpoints, source_db: asyncpg.Connection, capture_table: str, unique: str
) -> None:
    """With snapshot_mode=initial, existing leads arrive as op=r, later changes follow, and a
    restart does not snapshot again."""
    await source_db.execute(f"INSERT INTO {capture_table} (id, name, tentativas_contato) "
                            "SELECT g, 'Lead ' || g, 0 FROM generate_series(1, 2500) g")
    settings = capture_settings(services, unique, capture_table, snapshot_mode="initial")
    for round_ in range(2):
        stopping = asyncio.Event()
        task = await run_capture(settings, stopping)
        await source_db.execute(f"UPDATE {capture_table} SET tentativas_contato = $1 WHERE id = 7", round_ + 1)
        want = 2500 + round_ + 1
        events = await read_topic(settings.kafka, settings.kafka.leads_topic,
                                  until=lambda evs, want=want: len(evs) >= want)
        stopping.set()
        await asyncio.wait_for(task, 30)
        ops = Counter(e["op"] for e in events)
        assert ops == {"r": 2500, "u": round_ + 1}
    snapshot_ids = sorted(e["after"]["id"] for e in events if e["op"] == "r")
    assert snapshot_ids == list(range(1, 2501))
    # Debezium's marks, strings: the snapshot's first row "first", its last "last", the rest "true".
    marks = {e["after"]["id"]: e["source"]["snapshot"] for e in events if e["op"] == "r"}
    assert (marks[1], marks[2500], set(marks.values())) == ("first", "last", {"first", "true", "last"})
    assert {e["source"]["snapshot"] for e in events if e["op"] == "u"} == {"false"}


async def test_a_second_capture_stands_by_and_takes_over(
    services: Endpoints, source_db: asyncpg.Connection, capture_table: str, unique: str
) -> None:
    """Only one capture per slot is active; when it stops, the standby takes over and continues."""
    settings = capture_settings(services, unique, capture_table)
    first_stop, second_stop = asyncio.Event(), asyncio.Event()
    first = await run_capture(settings, first_stop)
    standby = CaptureComponent(settings, Metrics())
    second = asyncio.create_task(standby.run(second_stop))
    await asyncio.sleep(2)
    assert not standby.ready()
    await source_db.execute(f"INSERT INTO {capture_table} (id, tentativas_contato) VALUES (1, 0)")
    first_stop.set()
    await asyncio.wait_for(first, 30)
    for _ in range(100):
        if standby.ready():
            break
        await asyncio.sleep(0.1)
    assert standby.ready()
    await source_db.execute(f"INSERT INTO {capture_table} (id, tentativas_contato) VALUES (2, 0)")
    events = await read_topic(settings.kafka, settings.kafka.leads_topic, until=lambda evs: len(evs) >= 2)
    second_stop.set()
    await asyncio.wait_for(second, 30)
    assert sorted(e["after"]["id"] for e in events) == [1, 2]


async def test_an_idle_leads_table_does_not_pin_wal(
    services: Endpoints, source_db: asyncpg.Connection, capture_table: str, unique: str
) -> None:
    """For 60 s another table writes WAL while leads is idle: heartbeats move the slot forward."""
    settings = capture_settings(services, unique, capture_table, heartbeat_seconds=5.0)
    stopping = asyncio.Event()
    task = await run_capture(settings, stopping)
    start = (await slots.slot_status(source_db, settings.source.slot)).confirmed_flush_lsn  # type: ignore[union-attr]
    noise = f"noise_{unique}"
    await source_db.execute(f"CREATE TABLE {noise} (id bigserial PRIMARY KEY, payload text)")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            await source_db.execute(
                f"INSERT INTO {noise} (payload) SELECT repeat('w', 500) FROM generate_series(1, 200)")
            await asyncio.sleep(0.5)
        wal_now = await source_db.fetchval("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")
        status = await slots.slot_status(source_db, settings.source.slot)
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)
        await source_db.execute(f"DROP TABLE {noise}")
    assert status is not None and status.confirmed_flush_lsn is not None and start is not None
    written = wal_now - start
    assert status.confirmed_flush_lsn > start
    # The slot holds back about one heartbeat interval's WAL (5 s), not all 60 s of it; half is
    # a bound that still fails if heartbeats stop, with room for a loaded CI machine.
    assert wal_now - status.confirmed_flush_lsn < written / 2, (wal_now, status, start)


async def wait_ready(port: int, seconds: float = 60) -> None:
    async with httpx.AsyncClient() as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"capture on port {port} not ready after {seconds} s")


def spawn_capture(settings: Settings, port: int, log: Path, *, module: str = "streamer",
                  **extra_env: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_")}
    s = settings.source
    env |= extra_env | {
        "STREAMER_SOURCE__DSN": s.dsn.get_secret_value(), "STREAMER_SOURCE__TABLE": s.table,
        "STREAMER_SOURCE__CAPTURE_MODE": s.capture_mode, "STREAMER_SOURCE__SLOT": s.slot,
        "STREAMER_SOURCE__SLOT_READER": s.slot_reader,
        "STREAMER_SOURCE__PUBLICATION": s.publication, "STREAMER_SOURCE__SNAPSHOT_MODE": "never",
        "STREAMER_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "STREAMER_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "STREAMER_RUN__COMPONENTS": '["capture"]', "STREAMER_HTTP__PORT": str(port),
        "STREAMER_LOG__LEVEL": "INFO", "STREAMER_LOG__FORMAT": "json",
    }
    with log.open("ab") as out:
        args = ["run"] if module == "streamer" else []
        return subprocess.Popen([sys.executable, "-m", module, *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize(("mode", "reader"), [("replication", "protocol"), ("replication", "sql"), ("notify", "auto")])
async def test_sigkill_five_times_mid_stream_loses_nothing(
    services: Endpoints, source_db: asyncpg.Connection, capture_table: str, unique: str, mode: str,
    reader: str, tmp_path: Path,
) -> None:
    """Killed with SIGKILL at 5 random moments of a 50,000-change stream and restarted, the
    capture still puts every change on the topic at least once (duplicates are printed); in
    replication mode with either slot reader."""
    settings = capture_settings(services, unique, capture_table, mode, slot_reader=reader)
    rng = random.Random(5)
    workload = Workload(capture_table, seed=23)
    port = 18300 + rng.randint(0, 600)
    proc = spawn_capture(settings, port, tmp_path / "capture.log")
    await wait_ready(port)  # the slot (or trigger) exists: changes from now on are captured
    writer = asyncio.create_task(workload.run(source_db, 50_000, max_tx=60))
    kills = 0
    try:
        while kills < 5:
            await asyncio.sleep(rng.uniform(1.0, 3.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            proc = spawn_capture(settings, port, tmp_path / "capture.log")
        await writer
        events = await read_topic(
            settings.kafka, settings.kafka.leads_topic, seconds=240,
            until=lambda evs: {change_of(e) for e in evs} >= {c for h in workload.history.values() for c in h})
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    expected = {c for h in workload.history.values() for c in h}
    seen = Counter(change_of(e) for e in events)
    missing = expected - set(seen)
    duplicates = sum(n - 1 for n in seen.values())
    print(f"\n[{mode}/{reader}] {len(expected)} changes, {kills} SIGKILLs, {len(events)} events, "
          f"{duplicates} duplicates, {len(missing)} missing")
    assert kills == 5 and len(expected) == 50_000
    assert not missing, (tmp_path / "capture.log").read_text()[-3000:]


@pytest.mark.timeout(300)
async def test_sigkill_between_the_kafka_ack_and_the_status_update_loses_nothing(
    services: Endpoints, source_db: asyncpg.Connection, capture_table: str, unique: str, tmp_path: Path,
) -> None:
    """Protocol reader: five times, the capture kills itself with SIGKILL inside a standby status
    update, after Kafka acknowledged the batch and before the server hears of it (at a random
    one of the first 5 updates, tests/streamer/capture/killed_after_ack.py; updates are paced,
    one per `confirm_interval_ms`, so that is within about 5 s of streaming); a plain capture
    then finishes. Every change of a 20,000-change stream is on the topic: duplicates only."""
    settings = capture_settings(services, unique, capture_table, slot_reader="protocol")
    rng = random.Random(17)
    workload = Workload(capture_table, seed=29)
    port = 18900 + rng.randint(0, 600)
    log = tmp_path / "capture.log"
    proc = spawn_capture(settings, port, log)
    await wait_ready(port)
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    writer = asyncio.create_task(workload.run(source_db, 20_000, max_tx=60))
    codes = []
    try:
        for _ in range(5):
            proc = spawn_capture(settings, port, log, module="tests.streamer.capture.killed_after_ack",
                                 KILL_AT_CONFIRM=str(rng.randint(1, 5)))
            for _ in range(600):  # it dies at its own hand once enough batches were acknowledged
                if proc.poll() is not None or writer.done():
                    break
                await asyncio.sleep(0.1)
            if proc.poll() is None:
                proc.kill()
            codes.append(proc.wait())
        proc = spawn_capture(settings, port, log)
        await writer
        expected = {c for h in workload.history.values() for c in h}
        events = await read_topic(settings.kafka, settings.kafka.leads_topic, seconds=120,
                                  until=lambda evs: {change_of(e) for e in evs} >= expected)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    seen = Counter(change_of(e) for e in events)
    missing = expected - set(seen)
    duplicates = sum(n - 1 for n in seen.values())
    print(f"\n[protocol, killed after ack] {len(expected)} changes, exit codes {codes}, {len(events)} events, "
          f"{duplicates} duplicates, {len(missing)} missing")
    assert codes.count(-signal.SIGKILL) >= 3, codes  # most runs died at the injected point
    assert not missing, log.read_text()[-3000:]
