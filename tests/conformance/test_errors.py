"""PostgreSQL errors → HTTP statuses and bodies; schema-cache errors (docs/postgrest.md §2, §4)."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from tests.conformance.conftest import MakeTable, Target, reload_schema, wait_for_schema

pytestmark = pytest.mark.integration


async def test_unknown_table_is_pgrst205(http: httpx.AsyncClient, target: Target) -> None:
    """A table missing from the schema cache is 404 PGRST205 (v13+)."""
    response = await http.post("conf_does_not_exist", json=[{"id": 1}], headers=target.headers())
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "PGRST205"
    assert body["message"] == "Could not find the table 'public.conf_does_not_exist' in the schema cache"
    assert response.headers["proxy-status"] == "PostgREST; error=PGRST205"


async def test_unknown_table_wins_over_unknown_columns(http: httpx.AsyncClient, target: Target) -> None:
    """With an unknown table and unknown columns, PGRST205 is reported."""
    response = await http.post("conf_does_not_exist?columns=nope", json=[{"nope": 1}], headers=target.headers())
    assert response.json()["code"] == "PGRST205"


async def test_new_column_is_pgrst204_until_the_schema_reloads(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable, db: asyncpg.Connection
) -> None:
    """A column added after the last reload is unknown (PGRST204) until `NOTIFY pgrst`."""
    table = await make_table("id bigint primary key")
    await db.execute(f"ALTER TABLE public.{table} ADD COLUMN extra text")
    stale = await http.post(table, json=[{"id": 1, "extra": "x"}], headers=target.headers())
    assert stale.status_code == 400
    assert stale.json()["code"] == "PGRST204"
    assert stale.json()["message"] == f"Could not find the 'extra' column of '{table}' in the schema cache"
    await reload_schema(db)
    await wait_for_schema(http, target, table, "extra")
    fresh = await http.post(table, json=[{"id": 1, "extra": "x"}], headers=target.headers())
    assert fresh.status_code == 201


async def test_foreign_key_violation_is_409_23503(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """A missing parent row is 409 23503 with PostgreSQL's details."""
    parent = await make_table("id bigint primary key")
    child = await make_table(f"id bigint primary key, parent_id bigint references {parent}(id)")
    response = await http.post(child, json=[{"id": 1, "parent_id": 42}], headers=target.headers())
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "23503"
    assert body["details"] == f'Key (parent_id)=(42) is not present in table "{parent}".'


async def test_not_null_violation_is_400_23502(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """An explicit null into a NOT NULL column is 400 23502."""
    table = await make_table("id bigint primary key, name text not null")
    response = await http.post(table, json=[{"id": 1, "name": None}], headers=target.headers())
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "23502"
    assert body["message"] == (f'null value in column "name" of relation "{table}" violates not-null constraint')
    assert body["details"] == "Failing row contains (1, null)."


async def test_unparsable_value_is_400_22p02(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """A string that is not an integer is 400 22P02 in PostgreSQL's words."""
    table = await make_table("id bigint primary key, qty integer")
    response = await http.post(table, json=[{"id": 1, "qty": "abc"}], headers=target.headers())
    assert response.status_code == 400
    assert response.json() == {
        "code": "22P02",
        "details": None,
        "hint": None,
        "message": 'invalid input syntax for type integer: "abc"',
    }


async def test_check_violation_is_400_23514(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """A CHECK constraint failure is 400 23514."""
    table = await make_table("id bigint primary key, qty int check (qty > 0)")
    response = await http.post(table, json=[{"id": 1, "qty": -1}], headers=target.headers())
    assert response.status_code == 400
    assert response.json()["code"] == "23514"


async def test_too_long_value_is_400_22001(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """A value longer than varchar(n) is 400 22001."""
    table = await make_table("id bigint primary key, code varchar(3)")
    response = await http.post(table, json=[{"id": 1, "code": "abcd"}], headers=target.headers())
    assert response.status_code == 400
    assert response.json()["code"] == "22001"
    assert response.json()["message"] == "value too long for type character varying(3)"


async def test_bad_json_with_columns_is_reported_by_postgres(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """With `columns=` the body is not parsed by PostgREST: bad JSON is PostgreSQL's 22P02."""
    table = await make_table("id bigint primary key")
    headers = target.headers(**{"Content-Type": "application/json"})
    response = await http.post(f"{table}?columns=id", content=b"[{", headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == "22P02"
    assert response.json()["message"] == "invalid input syntax for type json"
