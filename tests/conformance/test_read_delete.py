"""GET filters, ordering, paging and counts; DELETE and PATCH with filters (docs/postgrest.md §6, §7)."""

from __future__ import annotations

import httpx
import pytest

from tests.conformance.conftest import MakeTable, Target

pytestmark = pytest.mark.integration

SEEDED = "id bigint primary key, name text, score int"
SEED = "INSERT INTO {t} SELECT g, 'n' || g, g * 10 FROM generate_series(1, 10) g"


async def test_eq_filter(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """`col=eq.v` returns the matching rows as a JSON array."""
    table = await make_table(SEEDED, setup=SEED)
    response = await http.get(f"{table}?id=eq.3", headers=target.headers())
    assert response.status_code == 200
    assert response.json() == [{"id": 3, "name": "n3", "score": 30}]
    assert response.headers["content-range"] == "0-0/*"


async def test_in_filter_with_order_and_select(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """`in.(…)` with `order=id.desc` and `select=` returns only those columns, in order."""
    table = await make_table(SEEDED, setup=SEED)
    response = await http.get(f"{table}?id=in.(2,4,6)&order=id.desc&select=id,name", headers=target.headers())
    assert response.json() == [{"id": 6, "name": "n6"}, {"id": 4, "name": "n4"}, {"id": 2, "name": "n2"}]


async def test_range_filters(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """`gte` and `lt` combine with AND."""
    table = await make_table(SEEDED, setup=SEED)
    response = await http.get(f"{table}?score=gte.30&score=lt.60&select=id&order=id", headers=target.headers())
    assert [r["id"] for r in response.json()] == [3, 4, 5]


async def test_is_null_filter(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """`is.null` matches NULLs."""
    table = await make_table(SEEDED, setup="INSERT INTO {t} VALUES (1, null, 1), (2, 'x', 2)")
    response = await http.get(f"{table}?name=is.null&select=id", headers=target.headers())
    assert response.json() == [{"id": 1}]


async def test_limit_offset_and_exact_count(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """A partial page under `count=exact` is 206 with `Content-Range: 2-4/10`."""
    table = await make_table(SEEDED, setup=SEED)
    headers = target.headers(Prefer="count=exact")
    response = await http.get(f"{table}?order=id&limit=3&offset=2&select=id", headers=headers)
    assert response.status_code == 206
    assert response.headers["content-range"] == "2-4/10"
    assert [r["id"] for r in response.json()] == [3, 4, 5]


async def test_full_page_with_exact_count_is_200(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """All rows under `count=exact` is 200 with the total."""
    table = await make_table(SEEDED, setup=SEED)
    response = await http.get(table, headers=target.headers(Prefer="count=exact"))
    assert response.status_code == 200
    assert response.headers["content-range"] == "0-9/10"


async def test_reads_are_capped_at_max_rows(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """Reads stop silently at db-max-rows (1000); the count still reports every row."""
    seed = "INSERT INTO {t} SELECT g, null, g FROM generate_series(1, 1005) g"
    table = await make_table(SEEDED, setup=seed)
    response = await http.get(f"{table}?select=id", headers=target.headers(Prefer="count=exact"))
    assert response.status_code == 206
    assert response.headers["content-range"] == "0-999/1005"
    assert len(response.json()) == 1000


async def test_delete_with_in_filter_is_204(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """DELETE `id=in.(1,2,3)` removes those rows and answers 204 with no body."""
    table = await make_table(SEEDED, setup=SEED)
    response = await http.delete(f"{table}?id=in.(1,2,3)", headers=target.headers())
    assert response.status_code == 204
    assert response.content == b""
    remaining = await http.get(f"{table}?select=id&order=id", headers=target.headers())
    assert [r["id"] for r in remaining.json()] == [4, 5, 6, 7, 8, 9, 10]


async def test_delete_with_representation_returns_the_rows(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """DELETE with `return=representation` is 200 with the deleted rows."""
    table = await make_table(SEEDED, setup=SEED)
    headers = target.headers(Prefer="return=representation")
    response = await http.delete(f"{table}?id=eq.7&select=id,name", headers=headers)
    assert response.status_code == 200
    assert response.json() == [{"id": 7, "name": "n7"}]


async def test_patch_updates_the_filtered_rows(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """PATCH with a filter updates only matching rows; 204 without representation."""
    table = await make_table(SEEDED, setup=SEED)
    response = await http.patch(f"{table}?id=lte.2", json={"name": "z"}, headers=target.headers())
    assert response.status_code == 204
    rows = await http.get(f"{table}?name=eq.z&select=id&order=id", headers=target.headers())
    assert [r["id"] for r in rows.json()] == [1, 2]
