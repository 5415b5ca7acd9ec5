"""The OpenAPI document at the root (docs/postgrest.md §5)."""

from __future__ import annotations

import httpx
import pytest

from tests.conformance.conftest import MakeTable, Target

pytestmark = pytest.mark.integration


async def test_definitions_mark_primary_keys_and_list_required_columns(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """Each column has type/format; PK columns carry `<pk/>`; `required` = NOT NULL columns."""
    table = await make_table(
        "id bigint primary key, name varchar(50) not null default 'x', qty integer default 0,"
        " note text, created_at timestamptz not null default now()"
    )
    response = await http.get("", headers=target.headers())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openapi+json")
    doc = response.json()
    assert doc["swagger"] == "2.0"
    definition = doc["definitions"][table]
    assert definition["required"] == ["id", "name", "created_at"]
    props = definition["properties"]
    assert props["id"]["type"] == "integer"
    assert props["id"]["format"] in ("bigint", "int64")
    assert "This is a Primary Key.<pk/>" in props["id"]["description"]
    assert props["name"] == {
        "type": "string",
        "format": "character varying",
        "default": "x",
        "maxLength": 50,
    }
    assert props["qty"]["default"] == 0
    assert props["created_at"] == {
        "type": "string",
        "format": "timestamp with time zone",
        "default": "now()",
    }
    assert "description" not in props["note"]


async def test_foreign_keys_are_described(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """A single-column FK carries the `<fk table=… column=…/>` marker."""
    parent = await make_table("id bigint primary key")
    child = await make_table(f"id bigint primary key, parent_id bigint references {parent}(id)")
    doc = (await http.get("", headers=target.headers())).json()
    description = doc["definitions"][child]["properties"]["parent_id"]["description"]
    assert f"<fk table='{parent}' column='id'/>" in description


async def test_root_is_refused_for_the_anon_key(
    http: httpx.AsyncClient, gateway: Target, make_table: MakeTable
) -> None:
    """Supabase (2026) refuses the schema to the anon key with 403."""
    response = await http.get("", headers=gateway.headers("anon"))
    assert response.status_code == 403
    assert response.json()["message"] == "Access to schema is forbidden"


async def test_only_tables_the_role_may_use_are_listed(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """follow-privileges: a table not granted to service_role is absent from its document."""
    hidden = await make_table("id bigint primary key", grants=("anon",))
    shown = await make_table("id bigint primary key")
    doc = (await http.get("", headers=target.headers())).json()
    assert shown in doc["definitions"]
    assert hidden not in doc["definitions"]
