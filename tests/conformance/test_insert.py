"""POST: body rules, `columns=`, status codes and headers (docs/postgrest.md §1.2, §1.3, §1.7)."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest

from tests.conformance.conftest import MakeTable, Target

pytestmark = pytest.mark.integration

ITEMS = "id bigint primary key, name text, qty int not null default 7"


async def test_plain_insert_is_201_with_an_empty_body(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """A plain insert answers 201, no body, no Content-Type, Content-Length 0, Content-Range */*."""
    table = await make_table(ITEMS)
    response = await http.post(table, json=[{"id": 1, "name": "a"}], headers=target.headers())
    assert response.status_code == 201
    assert response.content == b""
    assert "content-type" not in response.headers
    assert response.headers["content-range"] == "*/*"
    assert response.headers.get("content-length") == "0"


async def test_keys_must_match_across_the_array(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """Elements with different key sets give 400 PGRST102 "All object keys must match"."""
    table = await make_table(ITEMS)
    rows = [{"id": 1, "name": "a"}, {"id": 2, "qty": 3}]
    response = await http.post(table, json=rows, headers=target.headers())
    assert response.status_code == 400
    assert response.json() == {
        "code": "PGRST102",
        "details": None,
        "hint": None,
        "message": "All object keys must match",
    }


async def test_key_order_does_not_matter(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """The same keys in a different order are the same key set."""
    table = await make_table(ITEMS)
    rows = [{"id": 1, "name": "a"}, {"name": "b", "id": 2}]
    response = await http.post(table, json=rows, headers=target.headers())
    assert response.status_code == 201


async def test_non_object_element_is_rejected(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """A non-object array element is also "All object keys must match"."""
    table = await make_table(ITEMS)
    response = await http.post(table, json=[{"id": 1}, 123], headers=target.headers())
    assert response.status_code == 400
    assert response.json()["message"] == "All object keys must match"


async def test_invalid_json_is_pgrst102(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """Unparsable JSON without `columns=` gives 400 PGRST102 "Empty or invalid json"."""
    table = await make_table(ITEMS)
    headers = target.headers(**{"Content-Type": "application/json"})
    response = await http.post(table, content=b"[{", headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST102"
    assert response.json()["message"] == "Empty or invalid json"


async def test_columns_ignores_extra_keys_and_nulls_missing_ones(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """With `columns=`, unlisted keys are ignored and listed keys missing from a row are NULL."""
    table = await make_table("id bigint primary key, name text, note text")
    rows = [{"id": 1, "name": "a", "bogus": 1}, {"id": 2, "note": "n"}]
    headers = target.headers(Prefer="return=representation")
    response = await http.post(f'{table}?columns="id","name"', json=rows, headers=headers)
    assert response.status_code == 201
    assert sorted(response.json(), key=lambda r: r["id"]) == [
        {"id": 1, "name": "a", "note": None},
        {"id": 2, "name": None, "note": None},
    ]


async def test_columns_with_missing_default_uses_the_column_default(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """`Prefer: missing=default` fills listed-but-absent keys with the DEFAULT; explicit null stays."""
    table = await make_table("id bigint primary key, qty int default 7, tag text default 'x'")
    rows = [{"id": 1}, {"id": 2, "qty": 3, "tag": None}]
    headers = target.headers(Prefer="missing=default, return=representation")
    response = await http.post(f"{table}?columns=id,qty,tag", json=rows, headers=headers)
    assert response.status_code == 201
    assert sorted(response.json(), key=lambda r: r["id"]) == [
        {"id": 1, "qty": 7, "tag": "x"},
        {"id": 2, "qty": 3, "tag": None},
    ]
    assert response.headers["preference-applied"] == "missing=default, return=representation"


async def test_unknown_column_in_columns_is_pgrst204(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """A `columns=` name missing from the schema cache gives 400 PGRST204 with the bare table name."""
    table = await make_table(ITEMS)
    response = await http.post(f"{table}?columns=id,nope", json=[{"id": 1}], headers=target.headers())
    assert response.status_code == 400
    assert response.json() == {
        "code": "PGRST204",
        "details": None,
        "hint": None,
        "message": f"Could not find the 'nope' column of '{table}' in the schema cache",
    }


async def test_empty_array_inserts_nothing(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """`[]` is zero rows: 201 for a plain insert, 200 under merge-duplicates."""
    table = await make_table(ITEMS)
    plain = await http.post(table, json=[], headers=target.headers())
    merge = await http.post(table, json=[], headers=target.headers(Prefer="resolution=merge-duplicates"))
    assert (plain.status_code, merge.status_code) == (201, 200)


async def test_batch_is_atomic(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """One failing row rolls back the whole batch: nothing is persisted."""
    table = await make_table(ITEMS)
    rows = [{"id": 1, "qty": 1}, {"id": 2, "qty": None}]
    response = await http.post(table, json=rows, headers=target.headers())
    assert response.status_code == 400
    listed = await http.get(table, headers=target.headers())
    assert listed.json() == []


async def test_return_representation_honours_select(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """`return=representation` returns a JSON array shaped by `?select=`."""
    table = await make_table(ITEMS)
    headers = target.headers(Prefer="return=representation")
    response = await http.post(f"{table}?select=id,qty", json={"id": 5, "name": "e"}, headers=headers)
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == [{"id": 5, "qty": 7}]


async def test_count_exact_on_post_gives_the_row_count(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """`Prefer: count=exact` on a POST answers `Content-Range: */N`."""
    table = await make_table(ITEMS)
    rows = [{"id": i} for i in range(3)]
    response = await http.post(table, json=rows, headers=target.headers(Prefer="count=exact"))
    assert response.headers["content-range"] == "*/3"


async def test_handling_strict_rejects_unknown_preferences(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """Unknown preferences under `handling=strict` give 400 PGRST122 naming them."""
    table = await make_table(ITEMS)
    headers = target.headers(Prefer="handling=strict, foo=bar")
    response = await http.post(table, json=[{"id": 1}], headers=headers)
    assert response.status_code == 400
    assert response.json() == {
        "code": "PGRST122",
        "details": "Invalid preferences: foo=bar",
        "hint": None,
        "message": "Invalid preferences given with handling=strict",
    }


async def test_unknown_preferences_are_ignored_by_default(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """Without strict handling an unknown preference is ignored and not echoed."""
    table = await make_table(ITEMS)
    response = await http.post(table, json=[{"id": 1}], headers=target.headers(Prefer="foo=bar"))
    assert response.status_code == 201
    assert "preference-applied" not in response.headers


async def test_tx_rollback_is_ignored(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """`tx=rollback` is silently ignored (db-tx-end=commit): the row persists, nothing is echoed."""
    table = await make_table(ITEMS)
    headers = target.headers(Prefer="tx=rollback, handling=strict")
    response = await http.post(table, json=[{"id": 1}], headers=headers)
    assert response.status_code == 201
    assert response.headers["preference-applied"] == "handling=strict"
    listed = await http.get(table, headers=target.headers())
    assert [r["id"] for r in listed.json()] == [1]


async def test_missing_default_uses_the_identity_sequence(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """A `generated by default as identity` column counts as `nextval(seq)` under missing=default
    (called explicitly, so the role needs USAGE on the sequence, as Supabase's default grants give)."""
    identity = "id bigint generated by default as identity primary key, name text"
    table = await make_table(identity, setup="GRANT USAGE ON SEQUENCE {t}_id_seq TO service_role")
    headers = target.headers(Prefer="missing=default, return=representation")
    response = await http.post(f"{table}?columns=id,name", json=[{"name": "new"}], headers=headers)
    assert response.status_code == 201
    assert response.json() == [{"id": 1, "name": "new"}]


async def test_missing_default_uses_a_domain_default(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable, db: asyncpg.Connection
) -> None:
    """A column without its own DEFAULT takes its domain's DEFAULT under missing=default."""
    domain = f"conf_dom_{uuid.uuid4().hex[:12]}"
    await db.execute(f"CREATE DOMAIN public.{domain} AS int DEFAULT 42")
    try:
        table = await make_table(f"id bigint primary key, qty {domain}")
        headers = target.headers(Prefer="missing=default, return=representation")
        response = await http.post(f"{table}?columns=id,qty", json=[{"id": 1}], headers=headers)
        assert response.status_code == 201
        assert response.json() == [{"id": 1, "qty": 42}]
    finally:
        await db.execute(f"DROP DOMAIN public.{domain} CASCADE")


async def test_writes_ignore_accept_profile(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """A POST takes its schema from Content-Profile only: Accept-Profile neither fails it nor reaches
    the search_path, which is the schema then the extra search path (public first here)."""
    table = await make_table("id bigint primary key, sp text default current_setting('search_path')")
    headers = target.headers(**{"Prefer": "return=representation", "Accept-Profile": "conf_no_such_schema"})
    response = await http.post(table, json=[{"id": 1}], headers=headers)
    assert response.status_code == 201
    search_path = response.json()[0]["sp"]
    assert "conf_no_such_schema" not in search_path
    assert search_path.split(", ")[0] == '"public"'
