"""The capture's streaming-protocol reader on real PostgreSQL and Kafka: the slot is held active by
the reader's walsender, an idle capture leaves the source's log (and its slot SQL) alone, and a
refused replication connection falls back to the SQL reader with a warning."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest
from structlog.testing import capture_logs

from connectors.postgres import slot as slots
from connectors.postgres.errors import ReplicationRefused
from connectors.postgres.stream import ReplicationConnection
from devstack.stack import Endpoints
from streamer.capture.component import CaptureComponent
from streamer.capture.protocol import StreamSource
from streamer.capture.replication import ReplicationSource
from streamer.metrics import Metrics
from tests.streamer.capture.conftest import capture_settings, read_topic

pytestmark = pytest.mark.integration


async def started(component: CaptureComponent, stopping: asyncio.Event) -> asyncio.Task[None]:
    task = asyncio.create_task(component.run(stopping))
    for _ in range(150):
        if component.ready() or task.done():
            break
        await asyncio.sleep(0.1)
    assert component.ready(), task.exception() if task.done() else "capture not streaming after 15 s"
    return task


async def slot_row(conn: asyncpg.Connection, slot: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        """SELECT s.active, s.active_pid, a.backend_type, a.application_name
             FROM pg_replication_slots s LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid
            WHERE s.slot_name = $1""", slot)
    assert row is not None
    return row


async def test_the_slot_is_active_with_the_readers_walsender_pid_while_the_capture_runs(
    services: Endpoints, source_db: asyncpg.Connection, capture_table: str, unique: str
) -> None:
    """While the capture runs (idle, then after a change), `pg_replication_slots.active` is true and
    `active_pid` is the walsender of the capture's own replication connection; `slot status` calls
    the reader "protocol"; once the capture stops, the slot is inactive."""
    settings = capture_settings(services, unique, capture_table)
    component, stopping = CaptureComponent(settings, Metrics()), asyncio.Event()
    task = await started(component, stopping)
    try:
        source = component.source
        assert isinstance(source, StreamSource) and source.stream is not None
        samples = []
        for i in range(5):
            if i == 2:
                await source_db.execute(f"INSERT INTO {capture_table} (id, tentativas_contato) VALUES (1, 0)")
            await asyncio.sleep(0.3)
            samples.append(await slot_row(source_db, settings.source.slot))
        status = await slots.slot_status(source_db, settings.source.slot)
        await read_topic(settings.kafka, settings.kafka.leads_topic, until=lambda evs: len(evs) >= 1)
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)
    assert all(r["active"] and r["active_pid"] == source.stream.pid for r in samples), samples
    assert samples[0]["backend_type"] == "walsender" and samples[0]["application_name"] == "lead-sync-streamer"
    assert status is not None and status.reader == "protocol"
    for _ in range(50):  # the walsender exits right after the connection closes
        if not (await slot_row(source_db, settings.source.slot))["active"]:
            break
        await asyncio.sleep(0.1)
    assert not (await slot_row(source_db, settings.source.slot))["active"]


async def server_log(conn: asyncpg.Connection) -> Path | None:
    """The source server's log file, when this process can read it: the file the logging
    collector writes, else `server.log` in the data directory (where the dev stack's
    `pg_ctl -l` puts it, streamer/devstack/postgres.py)."""
    current = await conn.fetchval("SELECT pg_current_logfile()")
    data_dir = Path(await conn.fetchval("SHOW data_directory"))
    path = data_dir / current if current else data_dir / "server.log"
    try:
        with path.open("rb"):
            return path
    except OSError:
        return None


@pytest.mark.parametrize("reader", ["protocol", "sql"])
async def test_an_idle_capture_adds_nothing_about_its_slot_to_the_source_log(
    services: Endpoints, source_db: asyncpg.Connection, capture_table: str, unique: str, reader: str
) -> None:
    """For 5 s of idle capture, the protocol reader makes the source log nothing about its slot
    and runs no `pg_logical_slot_*` SQL; the SQL reader, as a control that the check can fail,
    logs a "starting logical decoding" line per peek. Where the log cannot be read, the check is
    pg_stat_activity sampled every 20 ms on the capture's SQL connection."""
    settings = capture_settings(services, unique, capture_table, slot_reader=reader)
    component, stopping = CaptureComponent(settings, Metrics()), asyncio.Event()
    task = await started(component, stopping)
    log = await server_log(source_db)
    try:
        await source_db.execute(f"INSERT INTO {capture_table} (id, tentativas_contato) VALUES (1, 0)")
        await read_topic(settings.kafka, settings.kafka.leads_topic, until=lambda evs: len(evs) >= 1)
        await asyncio.sleep(1)  # the change's transaction is confirmed; from here on, idle
        source = component.source
        base = source.base if isinstance(source, StreamSource) else source
        assert isinstance(base, ReplicationSource)
        pid = base.conn.get_server_pid()
        start = log.stat().st_size if log else 0
        slot_sql = 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            query = await source_db.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
                                             pid)
            slot_sql += bool(query and "pg_logical_slot_" in query)
            await asyncio.sleep(0.02)
        lines = []
        if log:
            with log.open("rb") as f:
                f.seek(start)
                lines = [line for line in f.read().decode(errors="replace").splitlines()
                         if f'"{settings.source.slot}"' in line]
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)
    print(f"\n[{reader}] log: {log or 'not readable'}; {len(lines)} lines naming the slot, "
          f"{slot_sql} samples with slot SQL running")
    if reader == "protocol":
        assert lines == [] and slot_sql == 0
    else:
        assert (len(lines) >= 5) if log else (slot_sql > 0)


async def test_a_refused_replication_connection_falls_back_to_the_sql_reader(
    services: Endpoints, source_db: asyncpg.Connection, capture_table: str, unique: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With slot_reader=auto, a server that refuses the replication connection (here: the
    connection is made to fail as pg_hba.conf without a replication line does) gets the SQL
    reader, a warning naming the reason, and every change still reaches Kafka."""
    async def refused(*args: object, **kwargs: object) -> ReplicationConnection:
        raise ReplicationRefused('open a replication connection: FATAL:  no pg_hba.conf entry for replication '
                                 'connection from host "127.0.0.1", user "postgres", no encryption')

    monkeypatch.setattr(ReplicationConnection, "open", refused)
    settings = capture_settings(services, unique, capture_table)
    component, stopping = CaptureComponent(settings, Metrics()), asyncio.Event()
    with capture_logs() as logs:
        task = await started(component, stopping)
    try:
        await source_db.execute(f"INSERT INTO {capture_table} (id, tentativas_contato) VALUES (1, 0)")
        events = await read_topic(settings.kafka, settings.kafka.leads_topic, until=lambda evs: len(evs) >= 1)
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)
    assert isinstance(component.source, ReplicationSource)
    assert [e["after"]["id"] for e in events] == [1]
    (warning,) = [e for e in logs if e["event"].startswith("replication connection refused")]
    assert warning["log_level"] == "warning" and "no pg_hba.conf entry for replication" in warning["reason"]


async def test_slot_reader_protocol_does_not_fall_back(
    services: Endpoints, capture_table: str, unique: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With slot_reader=protocol, a refused replication connection stops the capture with the
    error (not retriable) instead of polling through SQL."""
    async def refused(*args: object, **kwargs: object) -> ReplicationConnection:
        raise ReplicationRefused("open a replication connection: FATAL:  must be superuser or replication role")

    monkeypatch.setattr(ReplicationConnection, "open", refused)
    settings = capture_settings(services, unique, capture_table, slot_reader="protocol")
    with pytest.raises(ReplicationRefused):
        await asyncio.wait_for(CaptureComponent(settings, Metrics()).run(asyncio.Event()), 30)


async def test_status_updates_are_paced_and_the_slot_still_reaches_every_acknowledged_commit(
    services: Endpoints, source_db: asyncpg.Connection, capture_table: str, unique: str
) -> None:
    """200 single-change transactions over about 2 s: the slot's confirmed position, sampled
    every 20 ms, takes at most one new value per `confirm_interval_ms` (plus the first), so the
    walsender is not woken by a status update per transaction; once the changes are on the topic,
    the position reaches the last commit's end while the capture still runs."""
    settings = capture_settings(services, unique, capture_table, confirm_interval_ms=1000)
    component, stopping = CaptureComponent(settings, Metrics()), asyncio.Event()
    task = await started(component, stopping)
    seen: list[int] = []

    async def sample() -> None:
        while True:
            lsn = await sampler.fetchval(
                "SELECT (confirmed_flush_lsn - '0/0')::bigint FROM pg_replication_slots WHERE slot_name = $1",
                settings.source.slot)
            if not seen or lsn != seen[-1]:
                seen.append(lsn)
            await asyncio.sleep(0.02)

    sampler = await asyncpg.connect(services.source_dsn)
    watching = asyncio.create_task(sample())
    try:
        began = time.monotonic()
        for i in range(200):
            await source_db.execute(f"INSERT INTO {capture_table} (id, tentativas_contato) VALUES ($1, 0)", i + 1)
            await asyncio.sleep(0.01)
        events = await read_topic(settings.kafka, settings.kafka.leads_topic, until=lambda evs: len(evs) >= 200)
        last = max(int(e["source"]["lsn"]) for e in events)  # the last change; its commit ends past it
        for _ in range(100):  # the last acknowledgement goes out within the interval
            if seen[-1] > last:
                break
            await asyncio.sleep(0.1)
        elapsed = time.monotonic() - began
        watching.cancel()
    finally:
        watching.cancel()
        await sampler.close()
        stopping.set()
        await asyncio.wait_for(task, 30)
    assert seen[-1] > last, (seen, last)
    assert len(seen) - 1 <= elapsed / 1.0 + 2, (len(seen), elapsed)
