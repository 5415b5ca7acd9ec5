"""The two databases as `merkle.Side`s.

- `SqlSide`: a PostgreSQL connection calling the installed functions (the source, always).
- `RpcSide`: the destination through PostgREST's `/rpc/` calling the same functions, installed
  there by `streamer db migrate --target destination` (a real PostgREST, Supabase, or the
  development server, which answers `/rpc/` alike: docs/postgrest.md §9).
- `RowsSide`: the destination through plain reads of the table (`select=id,updated_at`, pages of
  `page_size` rows by id), hashed here as the SQL does (`merkle.row_hash`). For an API without
  `/rpc/` or without the functions (not migrated, or not yet in its schema cache); no `--columns` there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from connectors.postgres.errors import translate_errors
from connectors.postgrest.client import PostgrestClient
from connectors.postgrest.errors import PostgrestBadResponse
from streamer.verify.merkle import MODULUS, Range, Summary, row_hash

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)


def _lows_highs(ranges: Sequence[Range]) -> tuple[list[int], list[int]]:
    return [r.lo for r in ranges], [r.hi for r in ranges]


def _bounds(lo: Any, hi: Any) -> Range | None:
    return None if lo is None or hi is None else Range(int(lo), int(hi))


class SqlSide:
    """A database with the verify functions (schemas/sql/common/020_verify.sql), over asyncpg."""

    def __init__(self, conn: asyncpg.Connection, table: str, columns: Sequence[str] = ()) -> None:
        self.conn, self.table, self.columns = conn, table, list(columns)

    async def bounds(self) -> Range | None:
        with translate_errors("read the ids' bounds"):
            row = await self.conn.fetchrow("SELECT lo, hi FROM public.streamer_verify_bounds($1)", self.table)
        return None if row is None else _bounds(row["lo"], row["hi"])

    async def summaries(self, ranges: Sequence[Range]) -> list[Summary]:
        lows, highs = _lows_highs(ranges)
        with translate_errors("summarise id ranges"):
            rows = await self.conn.fetch("SELECT n, h FROM public.streamer_verify_ranges($1, $2, $3, $4)",
                                         self.table, lows, highs, self.columns)
        return [Summary(int(r["n"]), int(r["h"])) for r in rows]

    async def rows(self, ranges: Sequence[Range]) -> list[tuple[int, int]]:
        lows, highs = _lows_highs(ranges)
        with translate_errors("list the rows of id ranges"):
            rows = await self.conn.fetch("SELECT id, h FROM public.streamer_verify_leaf($1, $2, $3, $4)",
                                         self.table, lows, highs, self.columns)
        return [(int(r["id"]), int(r["h"])) for r in rows]


class RpcSide:
    """The destination's functions through PostgREST (`PostgrestClient.rpc`)."""

    def __init__(self, client: PostgrestClient, table: str, columns: Sequence[str] = ()) -> None:
        self.client, self.table, self.columns = client, table, list(columns)

    def _args(self, ranges: Sequence[Range]) -> dict[str, Any]:
        lows, highs = _lows_highs(ranges)
        return {"tbl": self.table, "lows": lows, "highs": highs, "cols": self.columns}

    async def bounds(self) -> Range | None:
        rows = _rows(await self.client.rpc("streamer_verify_bounds", {"tbl": self.table}), "streamer_verify_bounds")
        return _bounds(rows[0].get("lo"), rows[0].get("hi")) if rows else None

    async def summaries(self, ranges: Sequence[Range]) -> list[Summary]:
        rows = _rows(await self.client.rpc("streamer_verify_ranges", self._args(ranges)), "streamer_verify_ranges")
        if len(rows) != len(ranges):
            raise PostgrestBadResponse(f"streamer_verify_ranges: {len(rows)} summaries for {len(ranges)} ranges")
        return [Summary(int(r["n"]), int(r["h"])) for r in rows]

    async def rows(self, ranges: Sequence[Range]) -> list[tuple[int, int]]:
        rows = _rows(await self.client.rpc("streamer_verify_leaf", self._args(ranges)), "streamer_verify_leaf")
        return [(int(r["id"]), int(r["h"])) for r in rows]


def _rows(data: Any, function: str) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise PostgrestBadResponse(f"{function}: expected a JSON array of objects")
    return data


def micros(value: str | None) -> int | str | None:
    """`updated_at` as PostgREST writes it in JSON → epoch microseconds (what the SQL hashes);
    `infinity` and `-infinity` stay as they are, NULL stays None.

    >>> micros("1970-01-01T00:00:01.5+00:00")
    1500000
    """
    if value is None or value in ("infinity", "-infinity"):
        return value
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:  # a timestamp without time zone: hashed as if UTC, as extract(epoch) does
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // ONE_MICROSECOND


class RowsSide:
    """The destination table read page by page through PostgREST, hashed here."""

    def __init__(self, client: PostgrestClient, table: str, page_size: int = 1000) -> None:
        self.client, self.table, self.page_size = client, table, page_size

    async def _edge(self, order: str) -> int | None:
        rows = await self.client.select(self.table, {"select": "id", "order": f"id.{order}", "limit": "1"})
        return int(rows[0]["id"]) if rows else None

    async def bounds(self) -> Range | None:
        return _bounds(await self._edge("asc"), await self._edge("desc"))

    async def _pages(self, r: Range) -> AsyncIterator[list[tuple[int, int]]]:
        """The (id, hash) rows of `r`, a page at a time (never the whole range in memory)."""
        lower = f"gte.{r.lo}"
        while True:
            page = await self.client.select(self.table, [
                ("select", "id,updated_at"), ("id", lower), ("id", f"lte.{r.hi}"), ("order", "id.asc"),
                ("limit", str(self.page_size))])
            yield [(int(row["id"]), row_hash(int(row["id"]), micros(row["updated_at"]))) for row in page]
            if len(page) < self.page_size:
                return
            lower = f"gt.{int(page[-1]['id'])}"

    async def summaries(self, ranges: Sequence[Range]) -> list[Summary]:
        found: list[Summary] = []
        for r in ranges:
            count = total = 0
            async for page in self._pages(r):
                count, total = count + len(page), (total + sum(h for _, h in page)) % MODULUS
            found.append(Summary(count, total))
        return found

    async def rows(self, ranges: Sequence[Range]) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        for r in sorted(ranges):
            async for page in self._pages(r):
                found.extend(page)
        return found
