"""Gateway keys, JWTs, roles, grants and RLS (docs/postgrest.md §3)."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from tests.conformance.conftest import MakeTable, Target

pytestmark = pytest.mark.integration


async def test_missing_apikey_is_401(http: httpx.AsyncClient, gateway: Target, make_table: MakeTable) -> None:
    """No `apikey` header or param: the gateway answers 401 without a code."""
    table = await make_table("id bigint primary key")
    response = await http.get(table)
    assert response.status_code == 401
    body = response.json()
    assert body["message"] == "No API key found in request"
    assert "code" not in body


async def test_apikey_query_parameter_is_accepted(
    http: httpx.AsyncClient, gateway: Target, make_table: MakeTable
) -> None:
    """`?apikey=` works like the header."""
    table = await make_table("id bigint primary key")
    response = await http.get(f"{table}?apikey={gateway.service_key}")
    assert response.status_code == 200


async def test_invalid_apikey_is_401(http: httpx.AsyncClient, gateway: Target, make_table: MakeTable) -> None:
    """An apikey that is not one of the project's keys is 401 "Invalid API key"."""
    table = await make_table("id bigint primary key")
    response = await http.get(table, headers={"apikey": "not-a-key"})
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid API key"


async def test_bad_jwt_signature_is_pgrst301(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """A user JWT signed with another secret is 401 PGRST301 with an invalid_token challenge."""
    table = await make_table("id bigint primary key")
    forged = jwt.encode({"role": "service_role"}, "another-secret-of-sufficient-length!!", "HS256")
    headers = {"apikey": target.anon_key, "Authorization": f"Bearer {forged}"}
    response = await http.get(table, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "PGRST301"
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


async def test_expired_jwt_is_pgrst303(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """A JWT expired beyond the 30 s skew is 401 PGRST303 "JWT expired"."""
    table = await make_table("id bigint primary key")
    expired = jwt.encode({"role": "authenticated", "exp": int(time.time()) - 120}, target.jwt_secret, "HS256")
    headers = {"apikey": target.anon_key, "Authorization": f"Bearer {expired}"}
    response = await http.get(table, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "PGRST303"
    assert response.json()["message"] == "JWT expired"
    assert response.headers["www-authenticate"] == ('Bearer error="invalid_token", error_description="JWT expired"')


async def test_jwt_within_clock_skew_is_accepted(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """A JWT that expired 10 s ago is still accepted (30 s skew)."""
    table = await make_table("id bigint primary key")
    token = jwt.encode({"role": "authenticated", "exp": int(time.time()) - 10}, target.jwt_secret, "HS256")
    headers = {"apikey": target.anon_key, "Authorization": f"Bearer {token}"}
    response = await http.get(table, headers=headers)
    assert response.status_code == 200


async def test_unknown_role_is_401(http: httpx.AsyncClient, target: Target, make_table: MakeTable) -> None:
    """A JWT role that does not exist in the database is 401 (v13.0.1+)."""
    table = await make_table("id bigint primary key")
    response = await http.get(table, headers=target.headers("conf_no_such_role"))
    assert response.status_code == 401


async def test_ungranted_table_is_401_for_anon_and_403_for_others(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """42501 without grants: 401 (with WWW-Authenticate: Bearer) as anon, 403 as authenticated."""
    table = await make_table("id bigint primary key", grants=("service_role",))
    anon = await http.post(table, json=[{"id": 1}], headers=target.headers("anon"))
    assert anon.status_code == 401
    assert anon.json()["code"] == "42501"
    assert anon.json()["message"] == f"permission denied for table {table}"
    assert anon.headers["www-authenticate"] == "Bearer"
    user = await http.post(table, json=[{"id": 1}], headers=target.headers("authenticated"))
    assert user.status_code == 403


async def test_rls_denies_anon_and_service_role_bypasses_it(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """RLS without an insert policy refuses anon (42501 → 401); service_role has BYPASSRLS."""
    table = await make_table("id bigint primary key", rls=True)
    anon = await http.post(table, json=[{"id": 1}], headers=target.headers("anon"))
    assert anon.status_code == 401
    assert anon.json()["message"] == f'new row violates row-level security policy for table "{table}"'
    service = await http.post(table, json=[{"id": 1}], headers=target.headers())
    assert service.status_code == 201


async def test_jwt_claims_reach_row_level_security(
    http: httpx.AsyncClient, target: Target, make_table: MakeTable
) -> None:
    """`request.jwt.claims` is set, so a policy on the `sub` claim filters rows per user."""
    owner = "(current_setting('request.jwt.claims', true)::json->>'sub')"
    table = await make_table(
        "id bigint primary key, owner text",
        rls=True,
        policies=(f"FOR SELECT TO authenticated USING (owner = {owner})",),
    )
    rows = [{"id": 1, "owner": "alice"}, {"id": 2, "owner": "bob"}]
    await http.post(table, json=rows, headers=target.headers())
    token = jwt.encode({"role": "authenticated", "sub": "alice"}, target.jwt_secret, "HS256")
    headers = {"apikey": target.anon_key, "Authorization": f"Bearer {token}"}
    response = await http.get(table, headers=headers)
    assert response.json() == [{"id": 1, "owner": "alice"}]
