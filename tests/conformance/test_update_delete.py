"""PATCH and DELETE: Content-Range, an empty PATCH, `max-affected`, pg-safeupdate (docs/postgrest.md §1.3, §1.7).

Sources: src v13.0.8:Response.hs (Content-Range and Preference-Applied per mutation), Query.hs
(`failExceedsMaxAffectedPref`), Query/QueryBuilder.hs (an empty PATCH is `SELECT … WHERE false`).
"""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from tests.conformance.conftest import MakeTable, Target

pytestmark = pytest.mark.integration

SEEDED = "id bigint primary key, name text"
SEED = "INSERT INTO {t} SELECT g, 'n' || g FROM generate_series(1, 10) g"
STRICT = "handling=strict, max-affected="


@pytest.fixture
async def safeupdate(target: Target, db: asyncpg.Connection) -> Target:
    """Skip unless pg-safeupdate guards the API, as on Supabase (our server emulates it by default)."""
    if target.ours:
        return target
    loaded = await db.fetchval(
        "SELECT EXISTS (SELECT FROM pg_db_role_setting, unnest(setconfig) s"
        " WHERE s LIKE '%preload_libraries=%safeupdate%')"
    )
    if not loaded:
        pytest.skip("pg-safeupdate is not loaded for the API roles")
    return target


async def ids(http: httpx.AsyncClient, target: Target, table: str) -> list[int]:
    response = await http.get(f"{table}?select=id&order=id", headers=target.headers())
    return [r["id"] for r in response.json()]


async def test_delete_content_range_has_no_range(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """DELETE answers `Content-Range: */*`, or `*/N` under count=exact, never `0-(n-1)/…`."""
    table = await make_table(SEEDED, setup=SEED)
    plain = await http.delete(f"{table}?id=in.(1,2,3)", headers=target.headers())
    assert plain.headers["content-range"] == "*/*"
    counted = await http.delete(f"{table}?id=in.(4,5)", headers=target.headers(Prefer="count=exact"))
    assert counted.headers["content-range"] == "*/2"


async def test_patch_content_range_is_a_range(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """PATCH answers `Content-Range: 0-(n-1)/*`, or `…/n` under count=exact."""
    table = await make_table(SEEDED, setup=SEED)
    plain = await http.patch(f"{table}?id=lte.2", json={"name": "z"}, headers=target.headers())
    assert plain.headers["content-range"] == "0-1/*"
    counted = await http.patch(f"{table}?id=lte.3", json={"name": "y"}, headers=target.headers(Prefer="count=exact"))
    assert counted.headers["content-range"] == "0-2/3"


async def test_patch_with_an_empty_object_changes_nothing(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """PATCH `{}` is a no-op: 204, or 200 with `[]` under return=representation."""
    table = await make_table(SEEDED, setup=SEED)
    minimal = await http.patch(f"{table}?id=eq.1", json={}, headers=target.headers())
    assert minimal.status_code == 204
    headers = target.headers(Prefer="return=representation")
    represented = await http.patch(f"{table}?id=eq.1&select=id", json={}, headers=headers)
    assert represented.status_code == 200
    assert represented.json() == []
    row = await http.get(f"{table}?id=eq.1", headers=target.headers())
    assert row.json() == [{"id": 1, "name": "n1"}]


@pytest.mark.parametrize("method", ["DELETE", "PATCH"])
async def test_max_affected_exceeded_under_strict_is_pgrst124(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable, method: str
) -> None:
    """More rows than `max-affected` with handling=strict: 400 PGRST124, and nothing changes."""
    table = await make_table(SEEDED, setup=SEED)
    body = {"name": "z"} if method == "PATCH" else None
    headers = target.headers(Prefer=STRICT + "2")
    response = await http.request(method, f"{table}?id=lte.5", headers=headers, json=body)
    assert response.status_code == 400
    assert response.json() == {
        "code": "PGRST124",
        "details": "The query affects 5 rows",
        "hint": None,
        "message": "Query result exceeds max-affected preference constraint",
    }
    unchanged = await http.get(f"{table}?select=id,name&order=id&limit=5", headers=target.headers())
    assert unchanged.json() == [{"id": i, "name": f"n{i}"} for i in range(1, 6)]


@pytest.mark.parametrize("method", ["DELETE", "PATCH"])
async def test_max_affected_within_the_limit_is_applied(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable, method: str
) -> None:
    """At or under the limit the mutation runs and the preference is echoed after handling."""
    table = await make_table(SEEDED, setup=SEED)
    body = {"name": "z"} if method == "PATCH" else None
    headers = target.headers(Prefer=STRICT + "5")
    response = await http.request(method, f"{table}?id=lte.5", headers=headers, json=body)
    assert response.status_code == 204
    assert response.headers["preference-applied"] == "handling=strict, max-affected=5"


async def test_max_affected_without_strict_is_not_enforced(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """Without handling=strict `max-affected` is neither enforced nor echoed."""
    table = await make_table(SEEDED, setup=SEED)
    response = await http.delete(f"{table}?id=lte.5", headers=target.headers(Prefer="max-affected=2"))
    assert response.status_code == 204
    assert "preference-applied" not in response.headers
    assert await ids(http, target, table) == [6, 7, 8, 9, 10]


@pytest.mark.parametrize(("method", "command"), [("DELETE", "DELETE"), ("PATCH", "UPDATE")])
async def test_unfiltered_mutation_needs_a_where_clause(
    http: httpx.AsyncClient, make_table: MakeTable, safeupdate: Target, method: str, command: str
) -> None:
    """With pg-safeupdate (Supabase) a DELETE or PATCH without filters is 400 21000; nothing changes."""
    table = await make_table(SEEDED, setup=SEED)
    body = {"name": "z"} if method == "PATCH" else None
    response = await http.request(method, table, headers=safeupdate.headers(), json=body)
    assert response.status_code == 400
    assert response.json() == {
        "code": "21000",
        "details": None,
        "hint": None,
        "message": f"{command} requires a WHERE clause",
    }
    assert await ids(http, safeupdate, table) == list(range(1, 11))
