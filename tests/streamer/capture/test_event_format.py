"""What the capture puts on Kafka in the debezium event format (docs/event-format.md), read back
as records off the real topic: keys, values, tombstones, the TOAST placeholder, headers."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import asyncpg
import orjson
import pytest

from connectors.kafka.client import Consumer
from devstack.stack import Endpoints
from schemas.debezium import PLACEHOLDER
from tests.streamer.capture.conftest import capture_settings, run_capture

pytestmark = pytest.mark.integration

SOURCE_FIELDS = ["version", "connector", "name", "ts_ms", "snapshot", "db", "sequence", "ts_us", "ts_ns", "schema",
                 "table", "txId", "lsn", "xmin", "origin", "origin_lsn"]


async def records_of(settings: Any, count: int, seconds: float = 60) -> list[Any]:
    """The topic's first `count` records (tombstones included), in offset order."""
    out: list[Any] = []
    async with Consumer(settings.kafka, settings.kafka.leads_topic, group_id=f"raw-{settings.kafka.topic_prefix}") as c:
        deadline = asyncio.get_running_loop().time() + seconds
        while len(out) < count and asyncio.get_running_loop().time() < deadline:
            for batch in (await c.getmany(timeout_ms=500)).values():
                out += batch
    return sorted(out, key=lambda r: (r.partition, r.offset))


@pytest.mark.parametrize("schemas", [False, True], ids=["schemaless", "schemas"])
async def test_insert_update_delete_reach_kafka_as_debezium_writes_them(
    services: Endpoints, source_db: asyncpg.Connection, capture_table: str, unique: str, schemas: bool
) -> None:
    """A lead inserted with a large text column, updated without touching it (REPLICA IDENTITY
    DEFAULT, so pgoutput leaves the TOAST value out), then deleted: four records under the key
    `{"id": 1}`, on one partition: c, u with Debezium's placeholder, d, and the tombstone."""
    await source_db.execute(f"ALTER TABLE {capture_table} REPLICA IDENTITY DEFAULT")
    settings = capture_settings(services, unique, capture_table)
    settings = settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"event_schemas": schemas})})
    stopping = asyncio.Event()
    task = await run_capture(settings, stopping)
    big = "".join(random.Random(5).choices("abcdefghijklmnopqrstuvwxyz ", k=20_000))  # incompressible enough
    await source_db.execute(f"INSERT INTO {capture_table} (id, observacoes, etapa, data_nascimento, dados_extras, "
                            "sync_source) VALUES (1, $1, 'novo', '1990-05-17', '{\"lote\": 18446744073709551617}', "
                            "'tabuladormax')", big)
    await source_db.execute(f"UPDATE {capture_table} SET etapa = 'agendado' WHERE id = 1")
    await source_db.execute(f"DELETE FROM {capture_table} WHERE id = 1")
    records = await records_of(settings, 4)
    stopping.set()
    await asyncio.wait_for(task, 30)

    assert len(records) == 4 and len({r.partition for r in records}) == 1
    keys = [orjson.loads(r.key) for r in records]
    if schemas:
        assert all(k["schema"]["fields"] == [{"type": "int64", "optional": False, "field": "id"}] for k in keys)
        keys = [k["payload"] for k in keys]
    assert keys == [{"id": 1}] * 4
    assert records[3].value is None  # the tombstone, right after the delete
    envelopes = [orjson.loads(r.value) for r in records[:3]]
    if schemas:
        assert all(e["schema"]["name"] == f"{settings.kafka.leads_topic}.Envelope" for e in envelopes)
        envelopes = [e["payload"] for e in envelopes]
    insert, update, delete = envelopes
    assert [e["op"] for e in envelopes] == ["c", "u", "d"]
    for envelope in envelopes:
        source = envelope["source"]
        assert list(source) == SOURCE_FIELDS
        assert (source["connector"], source["name"], source["snapshot"], source["schema"], source["table"]) == (
            "postgresql", settings.kafka.topic_prefix, "false", "public", capture_table)
        assert isinstance(source["txId"], int) and isinstance(source["lsn"], int)
        assert source["ts_us"] // 1000 == source["ts_ms"] and source["ts_ns"] == source["ts_us"] * 1000
        last_commit, lsn = orjson.loads(source["sequence"])  # a string holding a JSON array
        assert lsn == str(source["lsn"]) and (last_commit is None or int(last_commit) < source["lsn"])
        assert envelope["transaction"] is None and "unchanged_toast" not in envelope
    assert insert["after"]["observacoes"] == big and insert["after"]["data_nascimento"] == 7441
    assert insert["after"]["dados_extras"] == '{"lote":18446744073709551617}'  # JSON text, the number exact
    assert update["after"]["observacoes"] == PLACEHOLDER and update["after"]["etapa"] == "agendado"
    assert delete["after"] is None and delete["before"]["id"] == 1
    headers = [dict(r.headers) for r in records]
    assert [h["op"] for h in headers] == [b"c", b"u", b"d", b"d"]
    assert all(h["sync_source"] == b"tabuladormax" for h in headers[:2])
