"""`streamer verify` against real databases: the source over asyncpg, the destination through the
PostgREST-compatible development server (rows read in pages) or through the very SQL functions
PostgREST's /rpc/ calls (on the destination database)."""

from __future__ import annotations

import asyncpg
import pytest

from connectors.postgrest.errors import PostgrestError
from streamer.config import Settings
from streamer.errors import ConfigError
from streamer.verify.merkle import Differences, compare, row_hash
from streamer.verify.run import destination_side, plan_of, source_table, verify
from streamer.verify.sides import SqlSide
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


async def test_equal_tables_show_no_difference(pair: Pair) -> None:
    """Equal tables compare equal through the development server, having listed no row."""
    result = await verify(pair.settings)
    assert result.found.total == 0 and result.found.rows_listed == 0
    assert result.destination_read == "rows"  # the development server has no /rpc/


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
        await verify(pair.settings, columns=("name",))
    with pytest.raises(ConfigError):
        async with destination_side(pair.with_verify(destination_read="rows"), ("name",)):
            pass


async def test_an_empty_destination_lists_every_lead_as_missing(pair: Pair) -> None:
    """With the destination emptied, every source lead is missing and none is extra or different."""
    await pair.pipeline.destination.execute(f"DELETE FROM {pair.pipeline.table}")
    found = (await verify(pair.settings, keep=2)).found
    assert (found.missing, found.extra, found.different) == (LEADS, 0, 0)
    assert found.first_missing == [FIRST_ID, FIRST_ID + 1]



async def test_forcing_the_rpc_reading_on_an_api_without_rpc_fails_naming_it(pair: Pair) -> None:
    """`destination_read=rpc` does not fall back: the API's 404 (PGRST125 here) is the error."""
    with pytest.raises(PostgrestError) as failed:
        await verify(pair.with_verify(destination_read="rpc"))
    assert failed.value.status == 404 and failed.value.code == "PGRST125"
    assert "streamer_verify_bounds" in str(failed.value)
