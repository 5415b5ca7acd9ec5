"""An update that changes a lead's id reaches the topic as a delete of the old id and a create
of the new, in both capture modes, so the old id does not linger at the destination."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from devstack.stack import Endpoints
from schemas.event import ChangeEvent, SourceInfo
from streamer.capture.events import split_key_change
from tests.streamer.capture.conftest import capture_settings, read_topic, run_capture

SOURCE = SourceInfo(connector="postgresql", db="tabuladormax", schema_="public", table="leads", ts_ms=5)


def test_an_update_of_the_id_splits_into_a_delete_and_a_create() -> None:
    moved = ChangeEvent(op="u", before={"id": 1, "name": "Ana"}, after={"id": 2, "name": "Ana"}, source=SOURCE)
    delete, create = split_key_change(moved)
    assert (delete.op, delete.key(), delete.before, delete.after) == ("d", 1, {"id": 1, "name": "Ana"}, None)
    assert (create.op, create.key(), create.before, create.after) == ("c", 2, None, {"id": 2, "name": "Ana"})
    assert delete.source == create.source == SOURCE


@pytest.mark.parametrize("event", [
    ChangeEvent(op="u", before={"id": 1, "name": "a"}, after={"id": 1, "name": "b"}, source=SOURCE),
    ChangeEvent(op="u", before=None, after={"id": 1}, source=SOURCE),  # no old image (default identity)
    ChangeEvent(op="c", after={"id": 3}, source=SOURCE),
    ChangeEvent(op="d", before={"id": 3}, source=SOURCE),
])
def test_every_other_event_is_left_as_it_is(event: ChangeEvent) -> None:
    assert split_key_change(event) == [event]


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["replication", "notify"])
async def test_a_lead_whose_id_changed_is_deleted_under_the_old_id(
    services: Endpoints, source_db: asyncpg.Connection, capture_table: str, unique: str, mode: str
) -> None:
    settings = capture_settings(services, unique, capture_table, mode)
    stopping = asyncio.Event()
    task = await run_capture(settings, stopping)
    await source_db.execute(f"INSERT INTO {capture_table} (id, name) VALUES (10, 'Ana')")
    await source_db.execute(f"UPDATE {capture_table} SET id = 11 WHERE id = 10")
    events = await read_topic(settings.kafka, settings.kafka.leads_topic, until=lambda evs: len(evs) >= 3)
    stopping.set()
    await asyncio.wait_for(task, 30)
    by_key = sorted(((e["before"] or e["after"])["id"], e["op"], e["_offset"]) for e in events)
    assert [(lead, op) for lead, op, _ in by_key] == [(10, "c"), (10, "d"), (11, "c")]
    assert by_key[0][2] < by_key[1][2]  # lead 10: created, then deleted, in that order
