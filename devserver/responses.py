"""Status codes and headers for reads and writes (docs/postgrest.md §1.7, §7), as pure functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import orjson
from starlette.responses import Response

from devserver.errors import ApiError, range_not_satisfiable
from devserver.schema_cache import Table


def error_response(error: ApiError) -> Response:
    return Response(error.body(), error.status, error.response_headers())


def content_range(offset: int, rows: int, total: int | str | None, *, write: bool = False) -> str:
    """`0-24/100`, `0-24/*`, or `*/N` when nothing was returned."""
    shown = "*" if total is None else str(total)
    if rows == 0:
        return f"*/{shown}"
    start = 0 if write else offset
    return f"{start}-{start + rows - 1}/{shown}"


def read_status(offset: int, rows: int, total: int | None) -> int:
    """200, or 206 for a partial page under a count; 416 PGRST103 past the end."""
    if total is None:
        return 200
    if offset > total:
        raise range_not_satisfiable(f"An offset of {offset} was requested, but there are only {total} rows.")
    return 206 if rows < total else 200


def mutation_status(representation: bool) -> int:
    """PATCH and DELETE: 200 with a body, else 204."""
    return 200 if representation else 204


def location_header(table: Table, body: str | None) -> str | None:
    """`/<table>?pk=eq.v` for headers-only, only when exactly one row was written and a PK exists."""
    if not table.primary_key or not body:
        return None
    rows: list[dict[str, Any]] = orjson.loads(body)
    if len(rows) != 1:
        return None
    query = "&".join(f"{quote(col)}=eq.{quote(str(rows[0].get(col)))}" for col in table.primary_key)
    return f"/{table.name}?{query}"


def mutation_content_range(action: str, rows: int, total: int | None) -> str:
    """PATCH: `0-(n-1)/…` (`*/…` for none); DELETE: always `*/N` or `*/*` (src v13.0.8:Response.hs
    gives DELETE the range 1-0, which prints as `*`)."""
    if action == "delete":
        return content_range(0, 0, total)
    return content_range(0, rows, total, write=True)


def single_object(results: list[list[Any]]) -> None:
    """`Accept: application/vnd.pgrst.object+json` needs exactly one row (else PGRST116, 406).

    Called before COMMIT so that a failing mutation is rolled back, as PostgREST does.
    """
    rows = int(results[0][0]["page_total"])
    if rows != 1:
        raise ApiError(
            406,
            "PGRST116",
            "Cannot coerce the result to a single JSON object",
            f"The result contains {rows} rows",
        )


def max_affected(limit: int) -> Callable[[list[list[Any]]], None]:
    """A check that fails the mutation with PGRST124 (400) when it touched more than `limit` rows.

    Run before COMMIT, so the mutation is rolled back, as PostgREST condemns the transaction.
    """

    def check(results: list[list[Any]]) -> None:
        rows = int(results[0][0]["page_total"])
        if rows > limit:
            raise ApiError(
                400,
                "PGRST124",
                "Query result exceeds max-affected preference constraint",
                f"The query affects {rows} rows",
            )

    return check
