"""Query-string parsing: casts in `select=`, NUL bytes in names, `limit`/`offset`, `on_conflict`.

PostgREST parses these with Parsec (src v13.0.8:ApiRequest/QueryParams.hs): a malformed value is a
400 PGRST100, and nothing a client puts in a name or a cast reaches SQL unquoted (docs/postgrest.md §2.3).
"""

from __future__ import annotations

import httpx
import pytest

from tests.conformance.conftest import MakeTable, Target

pytestmark = pytest.mark.integration

SEEDED = "id bigint primary key, name text, score int"
SEED = "INSERT INTO {t} SELECT g, 'n' || g, g * 10 FROM generate_series(1, 10) g"


async def test_cast_in_select(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """`col::type` casts the value and keeps the column name (or the alias) as the key."""
    table = await make_table(SEEDED, setup=SEED)
    response = await http.get(f"{table}?id=eq.3&select=id::text,s:score::double precision", headers=target.headers())
    assert response.status_code == 200
    assert response.json() == [{"id": "3", "s": 30.0}]


async def test_cast_cannot_smuggle_sql(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """Letters and spaces after `::` stay inside `CAST(… AS …)`: a UNION is a syntax error, 400 42601."""
    table = await make_table(SEEDED, setup=SEED)
    secret = await make_table("s text", setup="INSERT INTO {t} VALUES ('top-secret')")
    cast = f"text AS x FROM {table} WHERE false UNION ALL SELECT s FROM {secret} UNION ALL SELECT name"
    for role in ("service_role", "anon"):
        response = await http.get(table, params={"select": f"id::{cast}"}, headers=target.headers(role))
        assert response.status_code == 400
        assert response.json()["code"] == "42601"
        assert "top-secret" not in response.text


@pytest.mark.parametrize("select", ["id::text[]", "id::int;select", "id::text'x'", "id::"])
async def test_cast_outside_the_identifier_grammar_is_pgrst100(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable, select: str
) -> None:
    """A cast may only hold letters, digits, `_`, `$` and spaces; anything else is a parse error."""
    table = await make_table(SEEDED, setup=SEED)
    response = await http.get(table, params={"select": select}, headers=target.headers())
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST100"
    assert response.json()["message"].startswith(f'"failed to parse select parameter ({select})"')


async def test_nul_in_a_filter_name_ends_the_name(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """A NUL ends a filter's column name: `a%00b` filters on `a` (42703 here), `id%00x` on `id`."""
    table = await make_table(SEEDED, setup=SEED)
    unknown = await http.get(f"{table}?a%00b=eq.1", headers=target.headers())
    assert unknown.status_code == 400
    assert unknown.json()["code"] == "42703"
    assert unknown.json()["message"] == f"column {table}.a does not exist"
    known = await http.get(f"{table}?id%00x=eq.3&select=id", headers=target.headers())
    assert known.status_code == 200
    assert known.json() == [{"id": 3}]


@pytest.mark.parametrize("param", ["select", "order"])
async def test_nul_in_select_or_order_is_a_client_error(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable, param: str
) -> None:
    """A NUL in a `select`/`order` name is a 400 (never a 5xx, which clients would retry)."""
    table = await make_table(SEEDED, setup=SEED)
    response = await http.get(f"{table}?{param}=a%00b", headers=target.headers())
    assert response.status_code == 400


@pytest.mark.parametrize("param", ["limit", "offset"])
async def test_non_integer_limit_or_offset_is_ignored(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable, param: str
) -> None:
    """PostgREST reads limit/offset with `readMaybe`: a value that is no integer (`²`) is ignored."""
    table = await make_table(SEEDED, setup=SEED)
    response = await http.get(f"{table}?select=id&order=id&{param}=²", headers=target.headers())
    assert response.status_code == 200
    assert [r["id"] for r in response.json()] == list(range(1, 11))
    assert response.headers["content-range"] == "0-9/*"


async def test_negative_limit_is_416(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """`limit=-1` is 416 PGRST103 "Limit should be greater than or equal to zero." (RangeSpec)."""
    table = await make_table(SEEDED, setup=SEED)
    response = await http.get(f"{table}?select=id&limit=-1", headers=target.headers())
    assert response.status_code == 416
    assert response.json() == {
        "code": "PGRST103",
        "details": "Limit should be greater than or equal to zero.",
        "hint": None,
        "message": "Requested range not satisfiable",
    }


async def test_negative_offset_is_a_no_op(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """`offset=-4` reads from the first row (RangeSpec "succeeds if offset is negative as a no-op")."""
    table = await make_table(SEEDED, setup=SEED)
    response = await http.get(f"{table}?select=id&order=id&offset=-4", headers=target.headers())
    assert response.status_code == 200
    assert [r["id"] for r in response.json()] == list(range(1, 11))
    assert response.headers["content-range"] == "0-9/*"


async def test_empty_on_conflict_is_pgrst100(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """An empty `on_conflict=` is a parse error, not a fallback to the primary key."""
    table = await make_table("id bigint primary key, name text")
    headers = target.headers(Prefer="resolution=merge-duplicates")
    response = await http.post(f"{table}?on_conflict=", json=[{"id": 1, "name": "a"}], headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST100"
    assert response.json()["message"] == '"failed to parse on_conflict parameter ()" (line 1, column 1)'
    listed = await http.get(table, headers=target.headers())
    assert listed.json() == []
