"""An API without the product's SQL: a development server of the test's own over a fresh database.

The database is made on the destination's cluster (so the API roles `anon`, `authenticated` and
`service_role` exist), holds only what `setup` creates (no migrations: none of the verify or
reload functions), and the server signs with the stack's JWT secret, so the stack's service key
works against it. Both are gone when the block ends.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg

from devserver.launch import launched
from devstack.stack import Endpoints

Setup = Callable[[asyncpg.Connection], Awaitable[None]]


@dataclass(frozen=True)
class BareApi:
    url: str  # the project URL (the API under /rest/v1)
    dsn: str


@asynccontextmanager
async def bare_api(services: Endpoints, setup: Setup | None = None) -> AsyncIterator[BareApi]:
    """A fresh database on the destination's cluster, `setup` run on it, and a dev server over it."""
    name = f"bare_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(services.destination_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        dsn = urlsplit(services.destination_dsn)._replace(path=f"/{name}").geturl()
        try:
            if setup is not None:
                conn = await asyncpg.connect(dsn)
                try:
                    await setup(conn)
                finally:
                    await conn.close()
            with launched(db_uri=dsn, jwt_secret=services.jwt_secret, timeout=30) as server:
                yield BareApi(server.base_url, dsn)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
