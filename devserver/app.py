"""The ASGI application: composition of the pool, schema cache, listener and routes.

    app = create_app(ServerConfig(db_uri=..., jwt_secret=...))   # then serve with uvicorn

Routes: `/rest/v1/` (Supabase) and the bare root (plain PostgREST) for the API (tables and
`/rpc/<function>`), `/_admin/*` for test knobs. The middleware order is request log (outermost,
sees faulted requests too), then faults, then the router.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

import asyncpg
import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devserver.admin import Admin
from devserver.auth import JwtVerifier
from devserver.config import ServerConfig
from devserver.db import Database, no_reset
from devserver.errors import invalid_path
from devserver.faults import FaultMiddleware, FaultState
from devserver.listener import SchemaListener
from devserver.request_log import RequestLog, RequestLogMiddleware
from devserver.responses import error_response
from devserver.rest import RestApi
from devserver.schema_cache import (
    SchemaCache,
    SchemaCacheHolder,
    load_schema_cache,
)

log = structlog.get_logger(__name__)

PREFIX = "/rest/v1"
API_METHODS = ["GET", "HEAD", "POST", "PATCH", "DELETE", "PUT", "OPTIONS"]


def table_of(path: str) -> str | None | bool:
    """The table an API path names; None for the root; False for non-API (admin) paths."""
    if path.startswith("/_admin"):
        return False
    if path == PREFIX or path.startswith(PREFIX + "/"):
        path = path[len(PREFIX) :]
    name = path.strip("/")
    return name or None


async def _invalid_path(request: Request) -> Response:
    return error_response(invalid_path())


def _lifespan(
    config: ServerConfig, db: Database, holder: SchemaCacheHolder
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """Open the pool, load the schema cache, LISTEN; close everything in reverse on shutdown."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        dsn = config.db_uri.get_secret_value()
        async with AsyncExitStack() as stack:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=1,
                max_size=config.db_pool,
                reset=no_reset,
                server_settings={"standard_conforming_strings": "on"},
            )
            stack.push_async_callback(pool.close)
            db.pool = pool
            await holder.reload()
            stack.push_async_callback(holder.aclose)
            await stack.enter_async_context(SchemaListener(dsn, holder))
            tables = len(holder.snapshot.tables) if holder.snapshot else 0
            functions = len(holder.snapshot.routines) if holder.snapshot else 0
            log.info("devserver_ready", tables=tables, functions=functions)
            yield

    return lifespan


def create_app(config: ServerConfig) -> Starlette:
    """A Starlette app serving the PostgREST-compatible API for `config`."""
    verifier = JwtVerifier(config.jwt_secret.get_secret_value(), leeway=config.jwt_leeway_seconds)
    faults = FaultState()
    request_log = RequestLog(config.request_log_size)
    db = Database(config.db_pool_acquisition_timeout)  # the pool opens in the lifespan

    async def load() -> SchemaCache:
        async with db.require_pool().acquire() as conn:
            return await load_schema_cache(conn, config.db_schemas)

    holder = SchemaCacheHolder(load)
    api = RestApi(config, holder, db, verifier)
    admin = Admin(verifier, faults, request_log, holder)

    lifespan = _lifespan(config, db, holder)
    routes = [
        *admin.routes(),
        Route(PREFIX + "/", api.root, methods=["GET", "HEAD"]),
        Route(PREFIX, api.root, methods=["GET", "HEAD"]),
        Route(PREFIX + "/rpc/{function}", api.rpc, methods=API_METHODS),
        Route(PREFIX + "/{table}", api.table, methods=API_METHODS),
        Route(PREFIX + "/{rest:path}", _invalid_path, methods=API_METHODS),
        Route("/", api.root, methods=["GET", "HEAD"]),
        Route("/rpc/{function}", api.rpc, methods=API_METHODS),
        Route("/{table}", api.table, methods=API_METHODS),
        Route("/{rest:path}", _invalid_path, methods=API_METHODS),
    ]
    middleware = [
        Middleware(RequestLogMiddleware, log=request_log, table_of=table_of),
        Middleware(FaultMiddleware, state=faults, table_of=table_of),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.faults = faults
    app.state.request_log = request_log
    app.state.schema_cache = holder
    return app
