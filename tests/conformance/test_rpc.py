"""`/rpc/<function>` (docs/postgrest.md §9): arguments, answers, errors, privileges, the cache.

Functions are made per test with random names in `public`, EXECUTE granted to the API roles
unless a test says otherwise, and cached by a reload before the test calls them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import httpx
import pytest

from tests.conformance.conftest import ALL_ROLES, MakeTable, Target, reload_schema

pytestmark = pytest.mark.integration

MakeFunction = Callable[..., Awaitable[str]]


async def wait_for_rpc(http: httpx.AsyncClient, target: Target, name: str, *, present: bool = True) -> None:
    """Poll the OpenAPI document (service key) until `/rpc/<name>` is (or is no longer) listed."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        response = await http.get("", headers=target.headers())
        if response.status_code == 200 and (f"/rpc/{name}" in response.json().get("paths", {})) == present:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"/rpc/{name} never {'appeared in' if present else 'left'} the schema cache")


@pytest.fixture
async def make_function(
    db: asyncpg.Connection, http: httpx.AsyncClient, target: Target
) -> AsyncIterator[MakeFunction]:
    """`await make_function("(a integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT a $$")`
    → a fresh function name, cached; `grants` lists the roles given EXECUTE (PUBLIC's default
    grant is revoked first)."""
    created: list[str] = []

    async def make(signature: str, *, grants: tuple[str, ...] = ALL_ROLES, wait: bool = True) -> str:
        name = f"conf_fn_{uuid.uuid4().hex[:12]}"
        created.append(name)
        await db.execute(f"CREATE FUNCTION public.{name}{signature}")
        await db.execute(f"REVOKE ALL ON FUNCTION public.{name} FROM PUBLIC")
        for role in grants:
            await db.execute(f"GRANT EXECUTE ON FUNCTION public.{name} TO {role}")
        await reload_schema(db)
        if wait and "service_role" in grants:
            await wait_for_rpc(http, target, name)
        return name

    yield make
    for name in reversed(created):
        await db.execute(f"DROP FUNCTION IF EXISTS public.{name} CASCADE")


ADD = "(a integer, b integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT a + b $$"


async def test_post_named_arguments_answers_the_scalar(
    http: httpx.AsyncClient, target: Target, make_function: MakeFunction
) -> None:
    """A JSON object's keys are the arguments; a scalar comes back as the bare JSON value."""
    name = await make_function(ADD)
    response = await http.post(f"rpc/{name}", json={"a": 1, "b": 2}, headers=target.headers())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == 3
    assert response.headers["content-range"] == "0-0/*"


async def test_get_takes_arguments_from_the_query_string(
    http: httpx.AsyncClient, target: Target, make_function: MakeFunction
) -> None:
    """GET passes query parameters as the arguments (text, converted to the parameters' types)."""
    name = await make_function(ADD)
    response = await http.get(f"rpc/{name}", params={"a": "40", "b": "2"}, headers=target.headers())
    assert response.status_code == 200
    assert response.json() == 42


async def test_arguments_with_defaults_may_be_left_out(
    http: httpx.AsyncClient, target: Target, make_function: MakeFunction
) -> None:
    """An argument with a DEFAULT is optional; one without is required."""
    name = await make_function(
        "(a integer, b integer DEFAULT 10) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT a + b $$")
    assert (await http.post(f"rpc/{name}", json={"a": 1}, headers=target.headers())).json() == 11
    assert (await http.post(f"rpc/{name}", json={"a": 1, "b": 1}, headers=target.headers())).json() == 2


async def test_returns_table_is_an_array_of_objects_and_arrays_are_passed_as_json(
    http: httpx.AsyncClient, target: Target, make_function: MakeFunction
) -> None:
    """RETURNS TABLE (a set of rows) answers a JSON array of objects; array arguments are JSON arrays."""
    name = await make_function(
        "(lows bigint[], tag text) RETURNS TABLE (i integer, lo bigint, label text) LANGUAGE sql STABLE AS "
        "$$ SELECT r.i::integer, lows[r.i], tag FROM generate_subscripts(lows, 1) AS r(i) ORDER BY r.i $$")
    response = await http.post(f"rpc/{name}", json={"lows": [5, 7], "tag": "x"}, headers=target.headers())
    assert response.status_code == 200
    assert response.json() == [{"i": 1, "lo": 5, "label": "x"}, {"i": 2, "lo": 7, "label": "x"}]
    assert response.headers["content-range"] == "0-1/*"


async def test_setof_scalar_is_an_array_of_values_and_a_single_row_type_an_object(
    http: httpx.AsyncClient, target: Target, make_function: MakeFunction
) -> None:
    """SETOF integer answers `[1,2,3]`; a function returning one composite value answers an object."""
    setof = await make_function("() RETURNS SETOF integer LANGUAGE sql STABLE AS $$ SELECT generate_series(1, 3) $$")
    assert (await http.post(f"rpc/{setof}", json={}, headers=target.headers())).json() == [1, 2, 3]
    single = await make_function(
        "(OUT x integer, OUT y text) LANGUAGE sql STABLE AS $$ SELECT 10, 'five' $$")
    assert (await http.post(f"rpc/{single}", json={}, headers=target.headers())).json() == {"x": 10, "y": "five"}


async def test_set_results_stop_at_max_rows(
    http: httpx.AsyncClient, target: Target, make_function: MakeFunction
) -> None:
    """db-max-rows (1000) cuts a set-returning function's answer silently, as it cuts reads."""
    name = await make_function("() RETURNS SETOF integer LANGUAGE sql STABLE AS $$ SELECT generate_series(1, 1500) $$")
    response = await http.post(f"rpc/{name}", json={}, headers=target.headers())
    assert response.status_code == 200
    assert response.json() == list(range(1, 1001))
    assert response.headers["content-range"] == "0-999/*"


async def test_void_is_204_without_a_body_and_its_changes_commit(
    http: httpx.AsyncClient, target: Target, make_function: MakeFunction, make_table: MakeTable,
    db: asyncpg.Connection,
) -> None:
    """A VOLATILE void function runs read-write; PostgREST v12+ answers 204, no body, no Content-Type."""
    table = await make_table("id bigint primary key")
    name = await make_function(f"(v bigint) RETURNS void LANGUAGE sql AS $$ INSERT INTO public.{table} VALUES (v) $$")
    response = await http.post(f"rpc/{name}", json={"v": 7}, headers=target.headers())
    assert response.status_code == 204
    assert response.content == b""
    assert "content-type" not in response.headers
    assert await db.fetchval(f"SELECT array_agg(id) FROM public.{table}") == [7]


async def test_get_and_non_volatile_post_run_read_only(
    http: httpx.AsyncClient, target: Target, make_function: MakeFunction, make_table: MakeTable,
    db: asyncpg.Connection,
) -> None:
    """GET runs in a READ ONLY transaction, and so does POST of a STABLE or IMMUTABLE function:
    a write there is 405 25006. POST of a VOLATILE one is read-write."""
    table = await make_table("id bigint primary key")
    name = await make_function(f"(v bigint) RETURNS void LANGUAGE sql AS $$ INSERT INTO public.{table} VALUES (v) $$")
    response = await http.get(f"rpc/{name}", params={"v": "1"}, headers=target.headers())
    assert response.status_code == 405
    assert response.json()["code"] == "25006"
    assert await db.fetchval(f"SELECT count(*) FROM public.{table}") == 0
    sequence = f"conf_seq_{uuid.uuid4().hex[:12]}"
    await db.execute(f"CREATE SEQUENCE public.{sequence}; GRANT ALL ON SEQUENCE public.{sequence} TO service_role")
    try:
        call = f"AS $$ SELECT nextval('public.{sequence}') $$"
        stable = await make_function(f"() RETURNS bigint LANGUAGE sql STABLE {call}")
        volatile = await make_function(f"() RETURNS bigint LANGUAGE sql {call}")
        refused = await http.post(f"rpc/{stable}", json={}, headers=target.headers())
        assert refused.status_code == 405
        assert refused.json()["message"] == "cannot execute nextval() in a read-only transaction"
        assert (await http.post(f"rpc/{volatile}", json={}, headers=target.headers())).json() == 1
    finally:
        await db.execute(f"DROP SEQUENCE public.{sequence} CASCADE")


async def test_missing_argument_is_404_pgrst202_with_a_hint(
    http: httpx.AsyncClient, target: Target, make_function: MakeFunction
) -> None:
    """A required argument left out: no overload matches, 404 PGRST202 naming what was sent and
    hinting the function's parameters (long names: clearly close whatever the fuzzy scoring)."""
    name = await make_function("(first_number integer, second_number integer) RETURNS integer LANGUAGE sql "
                               "IMMUTABLE AS $$ SELECT first_number + second_number $$")
    response = await http.post(f"rpc/{name}", json={"first_number": 1}, headers=target.headers())
    assert response.status_code == 404
    assert response.headers["proxy-status"] == "PostgREST; error=PGRST202"
    assert response.json() == {
        "code": "PGRST202",
        "details": f"Searched for the function public.{name} with parameter first_number or with a single unnamed "
                   "json/jsonb parameter, but no matches were found in the schema cache.",
        "hint": f"Perhaps you meant to call the function public.{name}(first_number, second_number)",
        "message": f"Could not find the function public.{name}(first_number) in the schema cache",
    }


async def test_unknown_argument_is_404_pgrst202_listing_the_arguments_sorted(
    http: httpx.AsyncClient, target: Target, make_function: MakeFunction
) -> None:
    """An argument the function does not have is never ignored (GET: no json/jsonb search)."""
    name = await make_function(ADD)
    response = await http.get(f"rpc/{name}", params={"b": "2", "a": "1", "zz_extra": "x"}, headers=target.headers())
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "PGRST202"
    assert body["message"] == f"Could not find the function public.{name}(a, b, zz_extra) in the schema cache"
    assert body["details"] == (f"Searched for the function public.{name} with parameters a, b, zz_extra, "
                               "but no matches were found in the schema cache.")


async def test_unknown_function_is_404_pgrst202(http: httpx.AsyncClient, target: Target) -> None:
    """A name the cache does not know, called without arguments."""
    response = await http.post("rpc/conf_no_such_function_xyz", json={}, headers=target.headers())
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "PGRST202"
    assert body["message"] == ("Could not find the function public.conf_no_such_function_xyz without parameters "
                               "in the schema cache")
    assert body["details"] == ("Searched for the function public.conf_no_such_function_xyz without parameters or "
                               "with a single unnamed json/jsonb parameter, but no matches were found in the "
                               "schema cache.")


async def test_options_allows_get_only_for_non_volatile_functions(
    http: httpx.AsyncClient, target: Target, make_function: MakeFunction
) -> None:
    """OPTIONS answers `Allow`: GET and HEAD only where they could run (not VOLATILE)."""
    immutable = await make_function(ADD)
    volatile = await make_function("() RETURNS integer LANGUAGE sql AS $$ SELECT 1 $$")
    response = await http.options(f"rpc/{immutable}", params={"a": "1", "b": "2"}, headers=target.headers())
    assert response.status_code == 200
    assert response.headers["allow"] == "OPTIONS,GET,HEAD,POST"
    response = await http.options(f"rpc/{volatile}", headers=target.headers())
    assert response.headers["allow"] == "OPTIONS,POST"


async def test_a_single_unnamed_jsonb_parameter_takes_the_whole_body(
    http: httpx.AsyncClient, target: Target, make_function: MakeFunction
) -> None:
    """A function whose one parameter is an unnamed jsonb is called with the body itself."""
    name = await make_function("(jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$ SELECT $1 -> 'x' $$")
    response = await http.post(f"rpc/{name}", json={"x": [1, {"y": 2}], "other": True}, headers=target.headers())
    assert response.status_code == 200
    assert response.json() == [1, {"y": 2}]


@pytest.mark.parametrize("method", ["DELETE", "PATCH", "PUT"])
async def test_other_methods_are_405_pgrst101(
    http: httpx.AsyncClient, target: Target, make_function: MakeFunction, method: str
) -> None:
    """Only GET, HEAD and POST call a function."""
    name = await make_function(ADD)
    response = await http.request(method, f"rpc/{name}", json={"a": 1, "b": 2}, headers=target.headers())
    assert response.status_code == 405
    assert response.json() == {
        "code": "PGRST101",
        "details": None,
        "hint": None,
        "message": f"Cannot use the {method} method on RPC",
    }


async def test_without_execute_anon_gets_401_and_others_403_42501(
    http: httpx.AsyncClient, target: Target, make_function: MakeFunction
) -> None:
    """EXECUTE is checked by PostgreSQL as the request's role: 42501, 401 for anon, 403 otherwise."""
    name = await make_function(ADD, grants=("authenticated",), wait=False)
    await make_function(ADD)  # cached once this one shows, so is the first
    anon = await http.post(f"rpc/{name}", json={"a": 1, "b": 2}, headers=target.headers("anon"))
    assert anon.status_code == 401
    assert anon.json()["code"] == "42501"
    assert anon.json()["message"] == f"permission denied for function {name}"
    service = await http.post(f"rpc/{name}", json={"a": 1, "b": 2}, headers=target.headers())
    assert service.status_code == 403
    assert service.json()["code"] == "42501"
    user = await http.post(f"rpc/{name}", json={"a": 1, "b": 2}, headers=target.headers("authenticated"))
    assert user.status_code == 200
    assert user.json() == 3


async def test_runs_as_the_jwt_role_with_the_request_settings_and_security_definer_applies(
    http: httpx.AsyncClient, target: Target, make_function: MakeFunction, make_table: MakeTable
) -> None:
    """The call sees the role, the claims and the headers a table request sees; a SECURITY
    DEFINER function reads what its owner may read, which the caller may not."""
    whoami = await make_function(
        "() RETURNS json LANGUAGE sql STABLE AS $$ SELECT json_build_object('user', current_user, "
        "'role', current_setting('request.jwt.claims', true)::json->>'role', "
        "'header', current_setting('request.headers', true)::json->>'x-conformance') $$")
    response = await http.post(f"rpc/{whoami}", json={}, headers=target.headers("authenticated", **{
        "x-conformance": "yes"}))
    assert response.json() == {"user": "authenticated", "role": "authenticated", "header": "yes"}
    secret = await make_table("id bigint primary key", grants=(), setup="INSERT INTO {t} VALUES (1), (2)")
    count = f"AS $$ SELECT count(*) FROM public.{secret} $$"
    invoker = await make_function(f"() RETURNS bigint LANGUAGE sql STABLE {count}")
    definer = await make_function(f"() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER {count}")
    denied = await http.post(f"rpc/{invoker}", json={}, headers=target.headers())
    assert denied.status_code == 403
    assert denied.json()["code"] == "42501"
    allowed = await http.post(f"rpc/{definer}", json={}, headers=target.headers())
    assert allowed.status_code == 200
    assert allowed.json() == 2


async def test_raise_in_a_function_is_the_standard_error(
    http: httpx.AsyncClient, target: Target, make_function: MakeFunction
) -> None:
    """A RAISE comes back in the §2 envelope: P0001 is 400, with its message, detail and hint."""
    name = await make_function(
        "() RETURNS integer LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'nope' USING DETAIL = 'd', HINT = 'h'; "
        "END $$")
    response = await http.post(f"rpc/{name}", json={}, headers=target.headers())
    assert response.status_code == 400
    assert response.json() == {"code": "P0001", "details": "d", "hint": "h", "message": "nope"}


async def test_a_new_function_is_unknown_until_the_schema_cache_reloads(
    http: httpx.AsyncClient, target: Target, make_function: MakeFunction, db: asyncpg.Connection
) -> None:
    """Functions live in the schema cache like tables: created after the last reload, PGRST202."""
    name = f"conf_fn_{uuid.uuid4().hex[:12]}"
    await make_function(ADD)  # a reload has happened and settled
    try:
        await db.execute(f"CREATE FUNCTION public.{name}() RETURNS integer LANGUAGE sql AS $$ SELECT 5 $$")
        stale = await http.post(f"rpc/{name}", json={}, headers=target.headers())
        assert stale.status_code == 404
        assert stale.json()["code"] == "PGRST202"
        await reload_schema(db)
        await wait_for_rpc(http, target, name)
        fresh = await http.post(f"rpc/{name}", json={}, headers=target.headers())
        assert fresh.status_code == 200
        assert fresh.json() == 5
    finally:
        await db.execute(f"DROP FUNCTION IF EXISTS public.{name}()")


async def test_openapi_lists_rpc_paths_the_role_may_execute(
    http: httpx.AsyncClient, target: Target, make_function: MakeFunction
) -> None:
    """`/rpc/<name>` with get and post (arguments, required ones) for functions the key may
    EXECUTE; a function it may not is left out (follow-privileges)."""
    hidden = await make_function(ADD, grants=("authenticated",), wait=False)
    name = await make_function(
        "(a integer, tags text[] DEFAULT '{}') RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT a $$")
    doc = (await http.get("", headers=target.headers())).json()
    assert f"/rpc/{hidden}" not in doc["paths"]
    item = doc["paths"][f"/rpc/{name}"]
    assert set(item) == {"get", "post"}
    assert item["post"]["tags"] == [f"(rpc) {name}"]
    body = next(p for p in item["post"]["parameters"] if p.get("in") == "body")
    assert body["name"] == "args"
    assert body["schema"]["required"] == ["a"]
    assert body["schema"]["properties"]["a"]["type"] == "integer"  # format: integer, or int32 from v14.8
    assert body["schema"]["properties"]["tags"]["type"] == "array"
    query = {p["name"]: p for p in item["get"]["parameters"] if p.get("in") == "query"}
    assert query["a"]["required"] is True
    assert query["tags"]["required"] is False
