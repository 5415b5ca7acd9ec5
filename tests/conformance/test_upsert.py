"""Upsert: `Prefer: resolution`, `on_conflict`, 201 vs 200, Preference-Applied (docs/postgrest.md §1.4)."""

from __future__ import annotations

import httpx
import pytest

from tests.conformance.conftest import MakeTable, Target

pytestmark = pytest.mark.integration

MERGE = "resolution=merge-duplicates"


async def test_merge_with_a_new_row_is_201(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """merge-duplicates answers 201 when at least one row was newly inserted."""
    table = await make_table("id bigint primary key, name text")
    await http.post(table, json=[{"id": 1, "name": "a"}], headers=target.headers())
    rows = [{"id": 1, "name": "a2"}, {"id": 2, "name": "b"}]
    response = await http.post(table, json=rows, headers=target.headers(Prefer=MERGE))
    assert response.status_code == 201
    assert response.headers["preference-applied"] == MERGE


async def test_merge_with_only_updates_is_200(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """merge-duplicates answers 200 when every row was an update, and the rows are updated."""
    table = await make_table("id bigint primary key, name text")
    await http.post(table, json=[{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], headers=target.headers())
    rows = [{"id": 1, "name": "a2"}, {"id": 2, "name": "b2"}]
    response = await http.post(table, json=rows, headers=target.headers(Prefer=MERGE))
    assert response.status_code == 200
    listed = await http.get(f"{table}?order=id", headers=target.headers())
    assert [r["name"] for r in listed.json()] == ["a2", "b2"]


async def test_merge_leaves_columns_outside_the_payload_untouched(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """Only the payload's columns are updated on conflicting rows."""
    table = await make_table("id bigint primary key, name text, note text")
    await http.post(table, json=[{"id": 1, "name": "a", "note": "keep"}], headers=target.headers())
    await http.post(table, json=[{"id": 1, "name": "b"}], headers=target.headers(Prefer=MERGE))
    listed = await http.get(table, headers=target.headers())
    assert listed.json() == [{"id": 1, "name": "b", "note": "keep"}]


async def test_plain_insert_duplicate_is_409_23505(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """Without resolution a duplicate key is 409 with PostgreSQL's 23505 message and details."""
    table = await make_table("id bigint primary key, name text")
    await http.post(table, json=[{"id": 1}], headers=target.headers())
    response = await http.post(table, json=[{"id": 1}], headers=target.headers())
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == {
        "code": "23505",
        "details": "Key (id)=(1) already exists.",
        "hint": None,
        "message": f'duplicate key value violates unique constraint "{table}_pkey"',
    }


async def test_error_body_keys_are_alphabetical(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """The error envelope is serialised code, details, hint, message."""
    table = await make_table("id bigint primary key")
    await http.post(table, json=[{"id": 1}], headers=target.headers())
    response = await http.post(table, json=[{"id": 1}], headers=target.headers())
    assert response.text.startswith('{"code":"23505","details":')
    assert list(response.json()) == ["code", "details", "hint", "message"]


async def test_on_conflict_without_resolution_is_a_plain_insert(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """`on_conflict` alone does not upsert: a duplicate is still 409."""
    table = await make_table("id bigint primary key, email text unique")
    await http.post(table, json=[{"id": 1, "email": "a@x"}], headers=target.headers())
    response = await http.post(f"{table}?on_conflict=email", json=[{"id": 2, "email": "a@x"}], headers=target.headers())
    assert response.status_code == 409


async def test_on_conflict_targets_a_unique_column(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """`on_conflict=email` with merge-duplicates updates the row holding that email."""
    table = await make_table("id bigint primary key, email text unique, name text")
    await http.post(table, json=[{"id": 1, "email": "a@x", "name": "a"}], headers=target.headers())
    response = await http.post(
        f"{table}?on_conflict=email",
        json=[{"id": 1, "email": "a@x", "name": "b"}],
        headers=target.headers(Prefer=MERGE),
    )
    assert response.status_code == 200
    listed = await http.get(table, headers=target.headers())
    assert listed.json() == [{"id": 1, "email": "a@x", "name": "b"}]


async def test_on_conflict_without_a_unique_constraint_is_42p10(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """A conflict target with no unique index gives 400 42P10."""
    table = await make_table("id bigint primary key, name text")
    response = await http.post(
        f"{table}?on_conflict=name", json=[{"id": 1, "name": "a"}], headers=target.headers(Prefer=MERGE)
    )
    assert response.status_code == 400
    assert response.json()["code"] == "42P10"
    assert response.json()["message"] == (
        "there is no unique or exclusion constraint matching the ON CONFLICT specification"
    )


async def test_resolution_without_pk_is_a_plain_insert(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """No PK and no on_conflict: plain insert (201) and no resolution in Preference-Applied."""
    table = await make_table("id bigint, name text")
    headers = target.headers(Prefer=f"{MERGE}, return=minimal")
    response = await http.post(table, json=[{"id": 1}, {"id": 1}], headers=headers)
    assert response.status_code == 201
    assert response.headers["preference-applied"] == "return=minimal"


async def test_ignore_duplicates_skips_existing_rows(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """ignore-duplicates is 201, leaves existing rows alone and omits them from the representation."""
    table = await make_table("id bigint primary key, name text")
    await http.post(table, json=[{"id": 1, "name": "old"}], headers=target.headers())
    headers = target.headers(Prefer="resolution=ignore-duplicates, return=representation")
    rows = [{"id": 1, "name": "new"}, {"id": 2, "name": "b"}]
    response = await http.post(table, json=rows, headers=headers)
    assert response.status_code == 201
    assert response.json() == [{"id": 2, "name": "b"}]
    listed = await http.get(f"{table}?id=eq.1", headers=target.headers())
    assert listed.json() == [{"id": 1, "name": "old"}]


async def test_duplicate_keys_in_one_merge_batch_is_500_21000(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """The same key twice in one merge batch is PostgreSQL's 21000, which PostgREST maps to 500."""
    table = await make_table("id bigint primary key, name text")
    rows = [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]
    response = await http.post(table, json=rows, headers=target.headers(Prefer=MERGE))
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "21000"
    assert body["message"] == "ON CONFLICT DO UPDATE command cannot affect row a second time"
    assert body["hint"].startswith("Ensure that no rows proposed for insertion")


async def test_preference_applied_is_in_canonical_order(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """Preference-Applied lists resolution, missing, return, count in that order."""
    table = await make_table("id bigint primary key, name text")
    prefer = "count=exact, return=representation, missing=default, resolution=merge-duplicates"
    response = await http.post(f"{table}?columns=id,name", json=[{"id": 1}], headers=target.headers(Prefer=prefer))
    assert response.status_code == 201
    assert response.headers["preference-applied"] == (
        "resolution=merge-duplicates, missing=default, return=representation, count=exact"
    )
