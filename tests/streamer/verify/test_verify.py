"""`streamer verify` against real databases: the source over asyncpg, the destination through the
PostgREST-compatible development server, either by its `/rpc/` calls of the verify functions
(`destination_read=rpc`, what `auto` picks) or by its rows read in pages (`rows`), or directly
through the very SQL functions those calls run (on the destination database)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from connectors.postgrest.errors import PostgrestError
from devstack.stack import Endpoints
from streamer.config import Settings
from streamer.errors import ConfigError
from streamer.verify.merkle import Differences, compare, row_hash
from streamer.verify.run import destination_side, plan_of, source_table, verify
from streamer.verify.sides import SqlSide
from tests.bare_api import bare_api
from tests.streamer.verify.conftest import FIRST_ID, LEADS, Pair

pytestmark = pytest.mark.integration


async def plant(pair: Pair) -> None:
    """At the destination: lead +5 deleted, lead +1234 changed, lead 99 extra."""
    p, t = pair.pipeline, pair.pipeline.table
    await p.destination.execute(f"DELETE FROM {t} WHERE id = $1", FIRST_ID + 5)
    await p.destination.execute(f"UPDATE {t} SET updated_at = updated_at + interval '1 microsecond' WHERE id = $1",
                                FIRST_ID + 1234)
    await p.destination.execute(f"INSERT INTO {t} (id, name, updated_at) VALUES (99, 'only here', now())")


def kinds(found: Differences) -> tuple[list[int], list[int], list[int]]:
    return found.first_missing, found.first_extra, found.first_different


async def through_functions(pair: Pair, settings: Settings, columns: tuple[str, ...] = ()) -> Differences:
    """Compare with the destination read by the SQL functions PostgREST's /rpc/ would call."""
    p = pair.pipeline
    return await compare(SqlSide(p.source, source_table(settings), columns),
                         SqlSide(p.destination, p.table, columns), plan_of(settings), Differences())


async def rpc_cached(pair: Pair) -> None:
    """The destination API's schema cache knows the verify functions (migrated by `verify_migrated`,
    perhaps after the server's last reload): reload and wait for `/rpc/streamer_verify_leaf`."""
    settings = pair.settings.destination
    assert settings.service_key is not None
    key = settings.service_key.get_secret_value()
    await pair.pipeline.destination.execute("NOTIFY pgrst, 'reload schema'")
    async with httpx.AsyncClient(headers={"apikey": key, "Authorization": f"Bearer {key}"}) as http:
        for _ in range(150):
            doc = (await http.get(settings.rest_url + "/")).json()
            if "/rpc/streamer_verify_leaf" in doc.get("paths", {}):
                return
            await asyncio.sleep(0.1)
    raise AssertionError("the verify functions never appeared in the destination API's schema cache")


async def test_equal_tables_show_no_difference(pair: Pair) -> None:
    """Equal tables compare equal through the development server's rows, having listed no row."""
    result = await verify(pair.with_verify(destination_read="rows"))
    assert result.found.total == 0 and result.found.rows_listed == 0
    assert result.destination_read == "rows"


async def test_auto_reads_the_destination_through_rpc(pair: Pair) -> None:
    """`destination_read=auto` calls the verify functions through `/rpc/` when the API has them."""
    await rpc_cached(pair)
    result = await verify(pair.settings)
    assert result.destination_read == "rpc"
    assert result.found.total == 0 and result.found.rows_listed == 0


async def test_planted_differences_are_found_through_rpc(pair: Pair) -> None:
    """A deleted, a changed and an extra lead at the destination are exactly what verify reports
    when the destination is read by POST /rpc/streamer_verify_* through the development server."""
    await rpc_cached(pair)
    await plant(pair)
    result = await verify(pair.with_verify(destination_read="rpc", leaf_size=100, fanout=4))
    assert result.destination_read == "rpc"
    assert kinds(result.found) == ([FIRST_ID + 5], [99], [FIRST_ID + 1234])
    assert (result.found.missing, result.found.extra, result.found.different) == (1, 1, 1)


async def test_chosen_columns_through_rpc(pair: Pair) -> None:
    """`--columns` reaches the destination's functions through `/rpc/`: a name changed without
    moving updated_at is found only when `name` is among the columns."""
    await rpc_cached(pair)
    p = pair.pipeline
    await p.destination.execute(f"ALTER TABLE {p.table} DISABLE TRIGGER guard")
    await p.destination.execute(f"UPDATE {p.table} SET name = 'edited' WHERE id = $1", FIRST_ID + 42)
    settings = pair.with_verify(destination_read="rpc")
    assert (await verify(settings)).found.total == 0
    found = (await verify(settings, columns=("name",))).found
    assert kinds(found) == ([], [], [FIRST_ID + 42])


async def test_equal_tables_show_no_difference_through_the_functions(pair: Pair) -> None:
    """The destination's functions hash exactly as the source's: equal tables compare equal."""
    found = await through_functions(pair, pair.settings, columns=("name", "criado", "data_nascimento"))
    assert found.total == 0 and found.rows_listed == 0


async def test_planted_differences_are_found_through_the_development_server(pair: Pair) -> None:
    """A deleted, a changed and an extra lead at the destination are exactly what verify reports."""
    await plant(pair)
    found = (await verify(pair.with_verify(destination_read="rows", leaf_size=100, fanout=4))).found
    assert kinds(found) == ([FIRST_ID + 5], [99], [FIRST_ID + 1234])
    assert (found.missing, found.extra, found.different) == (1, 1, 1)


async def test_planted_differences_are_found_through_the_functions(pair: Pair) -> None:
    """The same differences are found when the destination is read by its SQL functions."""
    await plant(pair)
    found = await through_functions(pair, pair.with_verify(leaf_size=100, fanout=4))
    assert kinds(found) == ([FIRST_ID + 5], [99], [FIRST_ID + 1234])


async def test_python_and_sql_hash_a_row_alike(destination_db: asyncpg.Connection, verify_migrated: None) -> None:
    """A row hashed by the SQL function equals the one the rows reading computes, NULL and infinity included."""
    await destination_db.execute("CREATE TEMPORARY TABLE verify_hash (LIKE leads)")
    await destination_db.execute(
        "INSERT INTO verify_hash (id, updated_at) VALUES (1, NULL), (2, 'infinity'), (3, '-infinity'), "
        "(4, '1969-12-31 23:59:59.999999+00'), (5, '2024-01-01 02:00:00.123456+02'), (-6, '2000-01-01 00:00:00Z')")
    rows = await destination_db.fetch("SELECT id, h FROM streamer_verify_leaf('verify_hash', '{-10}', '{10}')")
    stamps: dict[int, int | str | None] = {1: None, 2: "infinity", 3: "-infinity", 4: -1, 5: 1704067200123456,
                                           -6: 946684800000000}
    assert {r["id"]: r["h"] for r in rows} == {i: row_hash(i, u) for i, u in stamps.items()}
    await destination_db.execute("DROP TABLE verify_hash")


async def test_chosen_columns_catch_a_change_updated_at_misses(pair: Pair) -> None:
    """A name changed without moving updated_at differs only when `name` is among the columns."""
    p = pair.pipeline
    await p.destination.execute(f"ALTER TABLE {p.table} DISABLE TRIGGER guard")
    await p.destination.execute(f"UPDATE {p.table} SET name = 'edited' WHERE id = $1", FIRST_ID + 42)
    assert (await through_functions(pair, pair.settings)).total == 0
    found = await through_functions(pair, pair.settings, columns=("name",))
    assert kinds(found) == ([], [], [FIRST_ID + 42])


async def test_reading_rows_refuses_columns(pair: Pair) -> None:
    """Columns need the destination's functions: an API without them is a configuration error."""
    with pytest.raises(ConfigError):
        await verify(pair.with_verify(destination_read="rows"), columns=("name",))
    with pytest.raises(ConfigError):
        async with destination_side(pair.with_verify(destination_read="rows"), ("name",)):
            pass


async def test_an_empty_destination_lists_every_lead_as_missing(pair: Pair) -> None:
    """With the destination emptied, every source lead is missing and none is extra or different."""
    await pair.pipeline.destination.execute(f"DELETE FROM {pair.pipeline.table}")
    found = (await verify(pair.settings, keep=2)).found
    assert (found.missing, found.extra, found.different) == (LEADS, 0, 0)
    assert found.first_missing == [FIRST_ID, FIRST_ID + 1]


@pytest.fixture
async def without_functions(pair: Pair, services: Endpoints) -> AsyncIterator[Settings]:
    """Settings whose destination is an API without the verify functions (`tests/bare_api.py`),
    over a copy of the destination table's ids and updated_at."""
    p = pair.pipeline
    rows = [tuple(r) for r in await p.destination.fetch(f"SELECT id, updated_at FROM {p.table}")]

    async def setup(conn: asyncpg.Connection) -> None:
        await conn.execute(f"CREATE TABLE public.{p.table} (id bigint PRIMARY KEY, updated_at timestamptz)")
        await conn.execute(f"GRANT SELECT ON public.{p.table} TO service_role")
        await conn.copy_records_to_table(p.table, records=rows, schema_name="public")

    async with bare_api(services, setup) as api:
        destination = pair.settings.destination.model_copy(update={"url": api.url, "dsn": None})
        yield pair.settings.model_copy(update={"destination": destination})


async def test_auto_falls_back_to_rows_on_an_api_without_the_functions(without_functions: Settings) -> None:
    """`auto` on an API whose schema cache lacks the functions (404 PGRST202) reads the rows."""
    result = await verify(without_functions)
    assert result.destination_read == "rows"
    assert result.found.total == 0


async def test_forcing_the_rpc_reading_on_an_api_without_the_functions_fails_naming_it(
    without_functions: Settings,
) -> None:
    """`destination_read=rpc` does not fall back: the API's 404 PGRST202 is the error."""
    settings = without_functions.model_copy(update={"verify": without_functions.verify.model_copy(
        update={"destination_read": "rpc"})})
    with pytest.raises(PostgrestError) as failed:
        await verify(settings)
    assert failed.value.status == 404 and failed.value.code == "PGRST202"
    assert "streamer_verify_bounds" in str(failed.value)
