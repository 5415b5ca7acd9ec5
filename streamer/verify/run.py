"""One verification: the source over asyncpg, the destination through PostgREST, `merkle.compare`.

The destination is read the way `verify.destination_read` says: `rpc` calls the functions our
destination SQL installs (`schemas/sql/common/020_verify.sql`), `rows` reads the table's
ids and `updated_at` in pages, `auto` tries the functions and falls back to rows when the API
has no `/rpc/` or not these functions (404: PGRST125, PGRST202, 42883).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from connectors.postgres import slot as pg
from connectors.postgrest.client import PostgrestClient
from connectors.postgrest.errors import PostgrestError
from streamer.config import Settings
from streamer.errors import ConfigError
from streamer.logging import get_logger
from streamer.verify.merkle import Differences, Plan, Side, compare
from streamer.verify.sides import RowsSide, RpcSide, SqlSide

log = get_logger(__name__)
NO_FUNCTIONS = frozenset({"PGRST125", "PGRST202", "42883"})  # no /rpc/ path; function not found
OnLeaf = Callable[[list[int], list[int], list[int]], Awaitable[None]]


@dataclass(frozen=True)
class Result:
    found: Differences
    destination_read: str  # "rpc" or "rows": how the destination was read
    seconds: float


def source_table(settings: Settings) -> str:
    return f"{pg.quote_ident(settings.source.schema_name)}.{pg.quote_ident(settings.source.table)}"


def plan_of(settings: Settings) -> Plan:
    v = settings.verify
    return Plan(fanout=v.fanout, leaf_size=v.leaf_size, batch=v.batch, rows_per_call=max(v.leaf_size, v.page_size))


@asynccontextmanager
async def destination_side(settings: Settings, columns: tuple[str, ...]) -> AsyncIterator[tuple[Side, str]]:
    """The destination as a side, and which reading it is ("rpc" or "rows")."""
    mode, table = settings.verify.destination_read, settings.destination.table
    if mode == "rows" and columns:
        raise ConfigError(["--columns (STREAMER_VERIFY__COLUMNS) needs the destination's verify functions: "
                           "set STREAMER_VERIFY__DESTINATION_READ to auto or rpc"])
    async with PostgrestClient.from_settings(settings.destination, max_connections=4) as client:
        if mode == "rows":
            yield RowsSide(client, table, settings.verify.page_size), "rows"
            return
        side = RpcSide(client, table, columns)
        try:
            await side.bounds()
        except PostgrestError as exc:
            if mode == "rpc" or exc.status != 404 or exc.code not in NO_FUNCTIONS:
                raise
            if columns:
                raise ConfigError([
                    f"--columns needs the verify functions at the destination, which its API does not offer "
                    f"({exc.code}): run `streamer db migrate --target destination` and reload the schema cache "
                    f"(`streamer schema reload-cache`), or verify without --columns"]) from None
            log.warning("the destination API has no verify functions, reading its rows instead", code=exc.code)
            yield RowsSide(client, table, settings.verify.page_size), "rows"
            return
        yield side, "rpc"


async def verify(settings: Settings, *, columns: tuple[str, ...] = (), keep: int | None = None,
                 on_leaf: OnLeaf | None = None) -> Result:
    """Compare the source's and the destination's leads; every difference goes to `on_leaf` too."""
    started = time.monotonic()
    found = Differences(keep=settings.verify.show if keep is None else keep, on_leaf=on_leaf)
    async with AsyncExitStack() as stack:
        conn = await stack.enter_async_context(pg.connect(settings.source.dsn.get_secret_value()))
        destination, reading = await stack.enter_async_context(destination_side(settings, columns))
        await compare(SqlSide(conn, source_table(settings), columns), destination, plan_of(settings), found)
    seconds = time.monotonic() - started
    log.info("verify finished", missing=found.missing, extra=found.extra, different=found.different,
             destination_read=reading, seconds=round(seconds, 3))
    return Result(found, reading, seconds)
