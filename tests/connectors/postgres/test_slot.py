"""Slot and publication management and change reading against a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from connectors.postgres import slot as pgslot
from connectors.postgres.assembler import TransactionAssembler, TxBatch
from connectors.postgres.errors import PermissionDenied, SetupError
from connectors.postgres.pgoutput import Commit, LogicalMessage, decode
from connectors.postgres.pgtypes import convert_row


@dataclass
class Source:
    conn: asyncpg.Connection
    table: str
    publication: str
    slot: str


@pytest.fixture
async def source(services: Any) -> AsyncIterator[Source]:
    suffix = uuid.uuid4().hex[:10]
    async with pgslot.connect(services.source_dsn) as conn:
        src = Source(conn, f"slot_leads_{suffix}", f"slot_pub_{suffix}", f"slot_test_{suffix}")
        await conn.execute(
            f"CREATE TABLE {src.table} (id bigint PRIMARY KEY, name text, notes text,"
            " tags text[], meta jsonb, created_at timestamptz, score numeric(10,2))"
        )
        # Keep notes out of line even when compressible, so an update can leave it as 'u'.
        await conn.execute(f"ALTER TABLE {src.table} ALTER COLUMN notes SET STORAGE EXTERNAL")
        try:
            yield src
        finally:
            await pgslot.drop_slot(conn, src.slot)
            await pgslot.drop_publication(conn, src.publication)
            await conn.execute(f"DROP TABLE IF EXISTS {src.table}")


async def _ready(src: Source) -> None:
    await pgslot.ensure_publication(src.conn, src.publication, src.table)
    await pgslot.ensure_slot(src.conn, src.slot)


def _assemble(rows: list[pgslot.PeekedChange], max_records: int = 1000) -> list[TxBatch]:
    asm = TransactionAssembler(max_records)
    return [b for r in rows for b in asm.feed(decode(r.data), lsn=r.lsn)]


pytestmark = pytest.mark.integration


async def test_preflight_passes_on_a_logical_server(source: Source):
    """A superuser on a wal_level=logical server passes preflight."""
    await pgslot.preflight(source.conn)


async def test_ensure_publication_and_slot_are_idempotent(source: Source):
    """Publication and slot are created once, then found; the slot starts inactive."""
    assert await pgslot.ensure_publication(source.conn, source.publication, source.table) is True
    assert await pgslot.ensure_publication(source.conn, source.publication, source.table) is False
    assert await pgslot.ensure_slot(source.conn, source.slot) is True
    assert await pgslot.ensure_slot(source.conn, source.slot) is False
    status = await pgslot.slot_status(source.conn, source.slot)
    assert status is not None and status.active is False and status.wal_status == "reserved"
    assert status.confirmed_flush_lsn is not None and status.retained_wal_bytes is not None


async def test_publication_missing_the_table_is_a_configuration_error(source: Source):
    """An existing publication that does not publish the table is reported, not altered."""
    await source.conn.execute(f"CREATE PUBLICATION {source.publication}")
    with pytest.raises(SetupError, match="ADD TABLE"):
        await pgslot.ensure_publication(source.conn, source.publication, source.table)


@pytest.mark.parametrize(("options", "said"), [
    ("WITH (publish = 'insert')", "does not publish update, delete"),
    ("WHERE (id > 100)", "matching"),
    ("(id, name)", "only some columns"),
])
async def test_a_publication_that_would_drop_changes_is_refused_with_the_alter(
    source: Source, options: str, said: str,
) -> None:
    """Created by someone else with fewer operations, a row filter or a column list, an existing
    publication would lose changes silently: refused, naming what and the ALTER that fixes it."""
    await source.conn.execute(f"CREATE PUBLICATION {source.publication} FOR TABLE public.{source.table} {options}")
    with pytest.raises(SetupError, match=said) as caught:
        await pgslot.ensure_publication(source.conn, source.publication, source.table)
    fix = str(caught.value).split(": ALTER", 1)[1]
    assert fix.startswith(" PUBLICATION")
    await source.conn.execute(f"ALTER{fix}")
    assert await pgslot.ensure_publication(source.conn, source.publication, source.table) is False


async def test_publication_for_a_missing_table_is_a_configuration_error(source: Source):
    """Creating a publication for a table that does not exist says so."""
    with pytest.raises(SetupError, match="cannot create publication"):
        await pgslot.ensure_publication(source.conn, source.publication, "no_such_table_" + source.slot)


async def test_slot_with_another_plugin_is_refused(source: Source):
    """A same-named slot using another output plugin is a configuration error."""
    await source.conn.execute("SELECT pg_create_logical_replication_slot($1, 'test_decoding')", source.slot)
    with pytest.raises(SetupError, match="not a pgoutput"):
        await pgslot.ensure_slot(source.conn, source.slot)


async def test_changes_round_trip_to_json_rows(source: Source):
    """Insert, update (TOAST left unchanged) and delete come back decoded, typed and ordered."""
    await _ready(source)
    big = "x" * 10_000
    conn, t = source.conn, source.table
    await conn.execute(
        f"INSERT INTO {t} VALUES (1, 'Ana', $1, '{{a,\"b c\"}}', '{{\"k\": 1}}', '2024-01-31 09:00:00-03', 12.50)",
        big,
    )
    await conn.execute(f"UPDATE {t} SET name = 'Ana B' WHERE id = 1")
    await conn.execute(f"DELETE FROM {t} WHERE id = 1")
    batches = _assemble(await pgslot.peek(conn, source.slot, source.publication, None))
    records = [r for b in batches for r in b.records]
    assert [r.op for r in records] == ["c", "u", "d"]
    types = {c.name: c.type_oid for c in records[0].relation.columns}
    assert records[0].new is not None
    inserted = convert_row(records[0].new.values, types)
    assert inserted == {
        "id": 1, "name": "Ana", "notes": big, "tags": ["a", "b c"], "meta": {"k": 1},
        "created_at": "2024-01-31T12:00:00+00:00", "score": "12.50",
    }  # fmt: skip
    updated = records[1].new
    assert updated is not None and updated.unchanged_toast == ("notes",) and "notes" not in updated.values
    assert records[2].old is not None and records[2].old.values["id"] == "1"
    assert all(b.is_last for b in batches) and len(batches) == 3


async def test_peek_does_not_consume_and_advance_does(source: Source):
    """Peeking twice returns the same rows; after advancing to a commit's end LSN they are gone."""
    await _ready(source)
    await source.conn.execute(f"INSERT INTO {source.table} (id) VALUES (1)")
    await source.conn.execute(f"INSERT INTO {source.table} (id) VALUES (2)")
    first = await pgslot.peek(source.conn, source.slot, source.publication, None)
    assert first == await pgslot.peek(source.conn, source.slot, source.publication, None)
    end_of_first_tx = _assemble(first)[0].end_lsn
    assert end_of_first_tx is not None
    assert await pgslot.advance(source.conn, source.slot, end_of_first_tx) == end_of_first_tx
    rest = _assemble(await pgslot.peek(source.conn, source.slot, source.publication, None))
    assert [r.new.values["id"] for b in rest for r in b.records if r.new] == ["2"]
    # Moving backwards is a no-op, not an error.
    assert await pgslot.advance(source.conn, source.slot, end_of_first_tx - 1) == end_of_first_tx


async def test_peek_pages_end_on_transaction_boundaries(source: Source):
    """upto_n smaller than a transaction still returns that whole transaction."""
    await _ready(source)
    async with source.conn.transaction():
        for i in range(10):
            await source.conn.execute(f"INSERT INTO {source.table} (id) VALUES ($1)", i)
    await source.conn.execute(f"INSERT INTO {source.table} (id) VALUES (99)")
    rows = await pgslot.peek(source.conn, source.slot, source.publication, 1)
    messages = [decode(r.data) for r in rows]
    assert isinstance(messages[-1], Commit)
    assert sum(1 for b in _assemble(rows) for _ in b.records) == 10


async def test_stream_changes_matches_peek(source: Source):
    """The cursor-based reader yields the same rows as peek."""
    await _ready(source)
    await source.conn.executemany(f"INSERT INTO {source.table} (id) VALUES ($1)", [(i,) for i in range(20)])
    peeked = await pgslot.peek(source.conn, source.slot, source.publication, None)
    streamed = [r async for r in pgslot.stream_changes(source.conn, source.slot, source.publication, None, 7)]
    assert streamed == peeked and len(peeked) == 23  # executemany is one transaction: B, R, 20 I, C


async def test_heartbeat_lets_an_idle_slot_advance(source: Source):
    """A heartbeat arrives as its own transaction whose end LSN the slot can advance to."""
    await _ready(source)
    lsn = await pgslot.emit_heartbeat(source.conn)
    (batch,) = _assemble(await pgslot.peek(source.conn, source.slot, source.publication, None))
    (message,) = batch.messages
    assert isinstance(message, LogicalMessage) and message.prefix == pgslot.HEARTBEAT_PREFIX
    assert message.lsn == lsn and batch.end_lsn is not None
    await pgslot.advance(source.conn, source.slot, batch.end_lsn)
    status = await pgslot.slot_status(source.conn, source.slot)
    assert status is not None and status.confirmed_flush_lsn == batch.end_lsn


async def test_drop_slot_reports_whether_it_existed(source: Source):
    """drop_slot returns True once and False when there is no slot."""
    await _ready(source)
    assert await pgslot.drop_slot(source.conn, source.slot) is True
    assert await pgslot.drop_slot(source.conn, source.slot) is False
    assert await pgslot.slot_status(source.conn, source.slot) is None


async def test_peek_of_a_missing_slot_is_a_configuration_error(source: Source):
    """Reading a slot that does not exist raises SetupError (SQLSTATE 42704)."""
    with pytest.raises(SetupError) as info:
        await pgslot.peek(source.conn, source.slot, source.publication, 1)
    assert info.value.sqlstate == "42704"


async def test_role_without_replication_fails_preflight(source: Source, services: Any):
    """A LOGIN role without REPLICATION gets PermissionDenied naming the fix."""
    role, password = f"noreplication_{source.slot[-10:]}", uuid.uuid4().hex
    await source.conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        other = await asyncpg.connect(services.source_dsn, user=role, password=password)
        try:
            with pytest.raises(PermissionDenied, match="REPLICATION"):
                await pgslot.preflight(other)
        finally:
            await other.close()
    finally:
        await source.conn.execute(f"DROP ROLE {role}")
