"""Fixtures for the PostgREST conformance suite: which server to test, and table factories.

Targets, in order of precedence:

1. `POSTGREST_URL` set: a real PostgREST (or a Supabase project). Also needs `POSTGREST_JWT_SECRET`
   and `POSTGREST_DB_URI` (SQL for setup). Set `POSTGREST_GATEWAY=1` if an API gateway checks
   `apikey` (Supabase); plain PostgREST has none, so the gateway cases are skipped.
2. `CONFORMANCE_SELF_START=1`: start our server (`python -m devserver`, by `devserver.launch`) on a
   free port against `CONFORMANCE_DB_URI` (default `postgresql://postgres@127.0.0.1:5544/postgres`,
   a throwaway cluster), with a random JWT secret.
3. Otherwise the session fixture `services` from `tests/conftest.py` (the local stack).

Cases use only HTTP to the server under test, plus SQL to its database for setup.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from connectors.postgrest.keys import issue_key
from devserver.launch import launched
from schemas.sql_files import migration_files

# Supabase's API roles, created when missing: the product's own SQL for them (the database
# behind a real PostgREST may not have been migrated by us).
ROLES_SQL = next(f.sql for f in migration_files("destination") if f.name == "common/000_roles.sql")
ALL_ROLES = ("anon", "authenticated", "service_role")


@dataclass(frozen=True)
class Target:
    """The server under test. `url` is the API base (e.g. `http://h:p/rest/v1`)."""

    url: str
    dsn: str
    jwt_secret: str
    anon_key: str
    service_key: str
    ours: bool  # our dev server: the `/_admin` knobs exist
    gateway: bool  # an `apikey`-checking gateway is in front

    @property
    def admin_url(self) -> str:
        return self.url.removesuffix("/").removesuffix("/rest/v1")

    def headers(self, role: str = "service_role", **extra: str) -> dict[str, str]:
        """What supabase-js sends: the key as `apikey` and as the bearer token; other roles
        travel as a user JWT beside the anon key."""
        keys = {"service_role": self.service_key, "anon": self.anon_key}
        token = keys.get(role) or issue_key(self.jwt_secret, role)
        apikey = keys.get(role, self.anon_key)
        return {"apikey": apikey, "Authorization": f"Bearer {token}", **extra}


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """The server under test (see the module docstring)."""
    if os.environ.get("POSTGREST_URL"):
        secret = os.environ["POSTGREST_JWT_SECRET"]
        yield Target(
            url=os.environ["POSTGREST_URL"].rstrip("/"),
            dsn=os.environ["POSTGREST_DB_URI"],
            jwt_secret=secret,
            anon_key=issue_key(secret, "anon"),
            service_key=issue_key(secret, "service_role"),
            ours=False,
            gateway=os.environ.get("POSTGREST_GATEWAY") == "1",
        )
    elif os.environ.get("CONFORMANCE_SELF_START") == "1":
        yield from _self_started()
    else:
        services: Any = request.getfixturevalue("services")
        yield Target(
            url=services.postgrest_url.rstrip("/"),
            dsn=services.destination_dsn,
            jwt_secret=services.jwt_secret,
            anon_key=services.anon_key,
            service_key=services.service_key,
            ours=True,
            gateway=True,
        )


def _self_started() -> Iterator[Target]:
    dsn = os.environ.get("CONFORMANCE_DB_URI", "postgresql://postgres@127.0.0.1:5544/postgres")
    secret = secrets.token_urlsafe(32)
    asyncio.run(_ensure_roles(dsn))  # before the server caches anything
    with launched(db_uri=dsn, jwt_secret=secret, timeout=20) as server:
        yield Target(
            url=server.rest_url,
            dsn=dsn,
            jwt_secret=secret,
            anon_key=issue_key(secret, "anon"),
            service_key=issue_key(secret, "service_role"),
            ours=True,
            gateway=True,
        )


async def _ensure_roles(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(ROLES_SQL)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def db(target: Target) -> AsyncIterator[asyncpg.Connection]:
    """A superuser-ish connection to the database behind the server, for setup only."""
    conn = await asyncpg.connect(target.dsn)
    await conn.execute(ROLES_SQL)
    yield conn
    await conn.close()


@pytest.fixture
async def http(target: Target) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=target.url + "/", timeout=15) as client:
        yield client


async def wait_for_schema(http: httpx.AsyncClient, target: Target, table: str, column: str | None = None) -> None:
    """Poll the OpenAPI document (service key) until `table` (and `column`) shows up."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        response = await http.get("", headers=target.headers())
        if response.status_code == 200:
            definition = response.json().get("definitions", {}).get(table)
            if definition and (column is None or column in definition["properties"]):
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{table}.{column} never appeared in the schema cache")


async def reload_schema(db: asyncpg.Connection) -> None:
    await db.execute("NOTIFY pgrst, 'reload schema'")


MakeTable = Callable[..., Awaitable[str]]


@pytest.fixture
async def make_table(db: asyncpg.Connection, http: httpx.AsyncClient, target: Target) -> AsyncIterator[MakeTable]:
    """`await make_table("id bigint primary key, name text")` → a fresh, cached table name.

    `grants` lists the roles given ALL on it; `rls=True` enables row-level security;
    `policies` are `CREATE POLICY` bodies with `{t}` for the table name; `{t}` also works in
    the column list (for self-references) and `setup` runs extra SQL (e.g. seed rows).
    It returns once OpenAPI shows the table, unless service_role has no grant on it (then a
    later `make_table` call is what waits for the reload).
    """
    created: list[str] = []

    async def make(
        columns: str,
        *,
        grants: tuple[str, ...] = ALL_ROLES,
        rls: bool = False,
        policies: tuple[str, ...] = (),
        setup: str = "",
    ) -> str:
        name = f"conf_{uuid.uuid4().hex[:12]}"
        created.append(name)
        await db.execute(f"CREATE TABLE public.{name} ({columns.format(t=name)})")
        for role in grants:
            await db.execute(f"GRANT ALL ON public.{name} TO {role}")
        if rls:
            await db.execute(f"ALTER TABLE public.{name} ENABLE ROW LEVEL SECURITY")
        for index, policy in enumerate(policies):
            await db.execute(f"CREATE POLICY p{index} ON public.{name} {policy.format(t=name)}")
        if setup:
            await db.execute(setup.format(t=name))
        await reload_schema(db)
        if "service_role" in grants:  # otherwise the service key cannot see it in OpenAPI
            await wait_for_schema(http, target, name)
        return name

    yield make
    for name in reversed(created):
        await db.execute(f"DROP TABLE IF EXISTS public.{name} CASCADE")


@pytest.fixture
def ours(target: Target) -> Target:
    """Skip unless the server under test is ours (the `/_admin` knobs exist)."""
    if not target.ours:
        pytest.skip("needs the dev server's /_admin knobs")
    return target


@pytest.fixture
def gateway(target: Target) -> Target:
    """Skip unless an apikey-checking gateway fronts the server (Supabase or ours)."""
    if not target.gateway:
        pytest.skip("plain PostgREST has no apikey gateway")
    return target
