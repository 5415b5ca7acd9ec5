"""Replication mode on real PostgreSQL: other tools' non-transactional messages never stall the
slot or the heartbeats, and a slot created after a snapshot ran brings the snapshot back."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import asyncpg
import pytest
from structlog.testing import capture_logs

from connectors.postgres import slot as slots
from devstack.stack import Endpoints
from streamer.capture.produce import EventBuffer
from streamer.capture.replication import ReplicationSource, moved_forward
from streamer.metrics import Metrics
from tests.streamer.capture.conftest import RecordingProducer, capture_settings, read_topic, run_capture

# pg_logical_emit_message(false, ...) as another tool writes it; its LSN is the end of its record.
EMIT_NON_TRANSACTIONAL = "SELECT (pg_logical_emit_message(false, 'other.tool', 'hello') - '0/0'::pg_lsn)::bigint"


def test_only_an_advance_that_moves_the_slot_counts_as_progress() -> None:
    """The first advance of a session counts; after it, only a position further on does, so a
    page the slot cannot pass makes the loop idle instead of reading it again at once."""
    assert moved_forward(None, 100)
    assert moved_forward(100, 101)
    assert not moved_forward(100, 100)


async def confirmed(conn: asyncpg.Connection, slot: str) -> int:
    status = await slots.slot_status(conn, slot)
    assert status is not None and status.confirmed_flush_lsn is not None
    return status.confirmed_flush_lsn


async def pump_until(source: ReplicationSource, buffer: EventBuffer, done: Callable[[int], bool]) -> None:
    """Pump until `done(consumed)` holds; the server hands out a record only once the WAL writer
    flushed it (within 200 ms), so the first pumps may find nothing."""
    for _ in range(100):
        if done(await source.pump(buffer)):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("not done after 100 pumps")


@pytest.mark.integration
async def test_a_non_transactional_message_is_passed_and_the_transaction_after_it_is_kept(
    services: Endpoints, source_db: asyncpg.Connection, capture_table: str, unique: str
) -> None:
    """A page holding only another tool's non-transactional message moves the slot to the
    message's LSN; a transaction open meanwhile, whose commit record may start exactly there,
    is still read and produced by the next page."""
    settings = capture_settings(services, unique, capture_table)
    producer = RecordingProducer()
    async with slots.connect(services.source_dsn) as conn, slots.connect(services.source_dsn) as writer:
        source = ReplicationSource(conn, settings.source, Metrics())
        await source.prepare()
        buffer = EventBuffer(producer, "unused", Metrics(), limit=100)  # type: ignore[arg-type]
        async with writer.transaction():
            await writer.execute(f"INSERT INTO {capture_table} (id, tentativas_contato) VALUES (1, 0)")
            message_lsn = await source_db.fetchval(EMIT_NON_TRANSACTIONAL)
            await pump_until(source, buffer, lambda consumed: consumed > 0)
            assert await confirmed(source_db, settings.source.slot) >= message_lsn
        await pump_until(source, buffer, lambda _: bool(producer.records))
    assert [(e["op"], e["after"]["id"]) for e in producer.events()] == [("c", 1)]


@pytest.mark.integration
@pytest.mark.parametrize("reader", ["sql", "protocol"])
async def test_a_non_transactional_message_on_an_idle_slot_does_not_stop_heartbeats(
    services: Endpoints, source_db: asyncpg.Connection, capture_table: str, unique: str, reader: str
) -> None:
    """With leads idle, another tool's non-transactional message is passed (the slot's confirmed
    position moves past it). The SQL reader's heartbeats go on, each moving the slot further; the
    protocol reader needs and writes none (keepalives move its slot, protocol.py)."""
    settings = capture_settings(services, unique, capture_table, heartbeat_seconds=0.5, slot_reader=reader)
    metrics, stopping = Metrics(), asyncio.Event()
    task = await run_capture(settings, stopping, metrics)
    try:
        message_lsn = await source_db.fetchval(EMIT_NON_TRANSACTIONAL)
        for _ in range(100):
            if await confirmed(source_db, settings.source.slot) >= message_lsn:
                break
            await asyncio.sleep(0.1)
        passed = await confirmed(source_db, settings.source.slot)
        beats = metrics.registry.get_sample_value("streamer_capture_heartbeats_total") or 0
        await asyncio.sleep(3)
        later = await confirmed(source_db, settings.source.slot)
        beats_later = metrics.registry.get_sample_value("streamer_capture_heartbeats_total") or 0
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)
    assert passed >= message_lsn
    if reader == "sql":
        assert beats_later - beats >= 2 and later > passed
    else:
        assert beats_later == 0 and later >= passed


@pytest.mark.integration
async def test_a_slot_created_after_the_snapshot_ran_snapshots_again(
    services: Endpoints, source_db: asyncpg.Connection, capture_table: str, unique: str
) -> None:
    """snapshot_mode=initial: the slot is dropped by hand and a lead changes while no slot exists;
    on the next start the capture creates the slot, warns, and snapshots again, so the change
    reaches the topic as that lead's latest state."""
    await source_db.execute(f"INSERT INTO {capture_table} (id, name, tentativas_contato) "
                            "SELECT g, 'Lead ' || g, 0 FROM generate_series(1, 3) g")
    settings = capture_settings(services, unique, capture_table, snapshot_mode="initial")
    stopping = asyncio.Event()
    task = await run_capture(settings, stopping)
    await read_topic(settings.kafka, settings.kafka.leads_topic, until=lambda evs: len(evs) >= 3)
    stopping.set()
    await asyncio.wait_for(task, 30)

    assert await slots.drop_slot(source_db, settings.source.slot)
    await source_db.execute(f"UPDATE {capture_table} SET tentativas_contato = 9 WHERE id = 2")
    stopping = asyncio.Event()
    with capture_logs() as logs:
        task = await run_capture(settings, stopping)
    events = await read_topic(settings.kafka, settings.kafka.leads_topic, until=lambda evs: len(evs) >= 6)
    stopping.set()
    await asyncio.wait_for(task, 30)

    assert Counter(e["op"] for e in events) == {"r": 6}
    latest = {e["after"]["id"]: e["after"]["tentativas_contato"] for e in events}  # a lead's order holds
    assert latest == {1: 0, 2: 9, 3: 0}
    (warning,) = [e for e in logs if e["event"] == "new slot: snapshot starts again"]
    assert warning["log_level"] == "warning" and warning["previous_snapshot"] == "done"
