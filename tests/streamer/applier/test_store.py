"""A planned batch written to the real TabuladorMax table: several versions of one lead end as
if applied one at a time, each judged by the `updated_at` guard under its own version."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from connectors.postgres.slot import connect
from devstack.stack import Endpoints
from schemas.event import ChangeEvent, SourceInfo
from schemas.lead import LEAD_COLUMNS
from schemas.mapping import IDENTITY
from streamer.applier.plan import plan_batch
from streamer.applier.store import LeadStore, Written

pytestmark = pytest.mark.integration

AT_10, AT_11, AT_12 = "2025-03-01T10:00:00+00:00", "2025-03-01T11:00:00+00:00", "2025-03-01T12:00:00+00:00"


def value(after: dict[str, Any], op: str = "u") -> bytes:
    return ChangeEvent(op=op, after=after, source=SourceInfo(  # type: ignore[arg-type]
        connector="webhook", db="gestao_scouter", schema_="public", table="leads", ts_ms=1,
        sync_source="gestao_scouter")).to_bytes()


@pytest.fixture
async def lead_id(source_db: asyncpg.Connection) -> AsyncIterator[int]:
    chosen = random.randrange(10**15, 2 * 10**15)
    yield chosen
    await source_db.execute("DELETE FROM public.leads WHERE id = $1", chosen)


@pytest.fixture
async def store(services: Endpoints) -> AsyncIterator[LeadStore]:
    async with connect(services.source_dsn) as conn:
        yield LeadStore(conn)


async def stored(db: asyncpg.Connection, lead_id: int) -> tuple[Any, ...]:
    row = await db.fetchrow("SELECT email, name, updated_at FROM public.leads WHERE id = $1", lead_id)
    assert row is not None
    return row["email"], row["name"], row["updated_at"].isoformat()


async def test_an_older_versions_column_does_not_overwrite_a_newer_stored_value(
    store: LeadStore, source_db: asyncpg.Connection, lead_id: int,
) -> None:
    """Stored 11:00 email='b'; the batch holds v1 (10:00, email='a') and v3 (12:00, name='new'):
    v1 is stale against the stored row, v3 lands, and email stays 'b'."""
    await source_db.execute("INSERT INTO public.leads (id, name, email, updated_at) "
                            "VALUES ($1, 'old', 'b', $2::text::timestamptz)", lead_id, AT_11)
    plan = plan_batch([value({"id": lead_id, "email": "a", "updated_at": AT_10}),
                       value({"id": lead_id, "name": "new", "updated_at": AT_12})], IDENTITY)
    assert await store.write(plan.rows) == Written(applied=1, stale=1)
    assert await stored(source_db, lead_id) == ("b", "new", AT_12)


async def test_versions_newer_than_the_stored_row_all_apply_in_order(
    store: LeadStore, source_db: asyncpg.Connection, lead_id: int,
) -> None:
    """With no stored row, the insert v1 creates the lead and the partial update v3 then applies
    over it in the same batch: v1's email and v3's name are both kept (keeping only the newest
    version would have lost the email)."""
    plan = plan_batch([value({"id": lead_id, "email": "a", "updated_at": AT_10}, op="c"),
                       value({"id": lead_id, "name": "new", "updated_at": AT_12})], IDENTITY)
    assert await store.write(plan.rows, plan.update_only) == Written(applied=2, stale=0)
    assert await stored(source_db, lead_id) == ("a", "new", AT_12)


async def test_a_partial_update_of_a_lead_tabuladormax_does_not_have_is_returned_unwritten(
    store: LeadStore, source_db: asyncpg.Connection, lead_id: int,
) -> None:
    """No stored row and an update carrying only `name`: nothing is written (no half lead), and
    the row comes back in `missing` for the dead-letter topic."""
    plan = plan_batch([value({"id": lead_id, "name": "half", "updated_at": AT_12})], IDENTITY)
    written = await store.write(plan.rows, plan.update_only)
    assert written == Written(applied=0, stale=0, missing=(plan.rows[0],))
    assert await source_db.fetchrow("SELECT 1 FROM public.leads WHERE id = $1", lead_id) is None


async def test_a_partial_update_of_a_deleted_lead_does_not_bring_it_back(
    store: LeadStore, source_db: asyncpg.Connection, lead_id: int,
) -> None:
    """A lead deleted in TabuladorMax stays deleted when a partial update of it arrives."""
    await source_db.execute("INSERT INTO public.leads (id, name, email, updated_at) "
                            "VALUES ($1, 'old', 'b', $2::text::timestamptz)", lead_id, AT_10)
    await source_db.execute("DELETE FROM public.leads WHERE id = $1", lead_id)
    plan = plan_batch([value({"id": lead_id, "email": "new@x", "updated_at": AT_12})], IDENTITY)
    assert (await store.write(plan.rows, plan.update_only)).missing == (plan.rows[0],)
    assert await source_db.fetchrow("SELECT 1 FROM public.leads WHERE id = $1", lead_id) is None


async def test_an_insert_or_a_whole_row_creates_a_new_lead_as_before(
    store: LeadStore, source_db: asyncpg.Connection, lead_id: int,
) -> None:
    """A reverse insert creates the lead from the columns it carries; so does an update carrying
    the whole row (the seed's trigger sends every column and no type)."""
    plan = plan_batch([value({"id": lead_id, "name": "inserted", "updated_at": AT_10}, op="c")], IDENTITY)
    assert await store.write(plan.rows, plan.update_only) == Written(applied=1, stale=0)
    other = lead_id + 1
    try:
        whole = {column: None for column in LEAD_COLUMNS} | {"id": other, "name": "whole", "updated_at": AT_12}
        plan = plan_batch([value(whole)], IDENTITY)
        assert await store.write(plan.rows, plan.update_only) == Written(applied=1, stale=0)
        assert (await stored(source_db, other))[1] == "whole"
    finally:
        await source_db.execute("DELETE FROM public.leads WHERE id = $1", other)
    assert (await stored(source_db, lead_id))[1] == "inserted"


async def test_a_partial_update_of_a_stored_lead_still_applies(
    store: LeadStore, source_db: asyncpg.Connection, lead_id: int,
) -> None:
    """The refusal is only for leads TabuladorMax lacks: a stored lead takes a partial update."""
    await source_db.execute("INSERT INTO public.leads (id, name, email, updated_at) "
                            "VALUES ($1, 'old', 'b', $2::text::timestamptz)", lead_id, AT_10)
    plan = plan_batch([value({"id": lead_id, "name": "new", "updated_at": AT_12})], IDENTITY)
    assert await store.write(plan.rows, plan.update_only) == Written(applied=1, stale=0)
    assert await stored(source_db, lead_id) == ("b", "new", AT_12)
