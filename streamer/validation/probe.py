"""HTTP probes of the destination for diagnostics: status, PostgREST code and message of each
answer, sent through the sink's `PostgrestClient` (its `request`, which returns an answer where
the typed methods would raise, and sends the empty upsert the typed `upsert` skips).

How writing is proven without leaving data behind. `Prefer: tx=rollback` is silently ignored
on Supabase (db-tx-end is `commit`, docs/postgrest.md §1.3), and writing then deleting a sentinel row
fires the destination's triggers (the reverse-sync webhook, Realtime) and leaves the row if the
DELETE fails. Instead:

1. `POST /<table>?columns=<the columns the sink writes>&on_conflict=id` with
   `Prefer: resolution=merge-duplicates` and the body `[]`. PostgREST still runs its
   `INSERT ... ON CONFLICT DO UPDATE` statement, with zero rows; PostgreSQL checks INSERT and
   UPDATE privileges when the statement starts, not per row, so a missing grant answers 401/403
   (42501), and an unknown column answers PGRST204 before any SQL (docs/postgrest.md §1.2).
2. `DELETE /<table>?id=is.null`, which matches no row of a primary key, proves DELETE privilege.

What this cannot prove: an RLS `WITH CHECK` policy, which is evaluated per row. service_role
bypasses RLS on Supabase; where a DSN is configured, `rls.rls_check` reads the policies instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Self

import httpx
import orjson

from connectors.postgrest.client import (
    OPENAPI_ACCEPT,
    PREFER_MINIMAL,
    PREFER_UPSERT,
    PostgrestClient,
    quote_columns,
)
from connectors.postgrest.settings import DestinationSettings


@dataclass(frozen=True)
class ProbeResult:
    """`status` None means no HTTP answer (`error` says why)."""

    status: int | None
    code: str | None = None
    message: str = ""
    json: Any = None
    seconds: float = 0.0
    error: str = ""


class Probe:
    """Diagnostic requests through a `PostgrestClient`, each answer kept as a `ProbeResult`."""

    def __init__(self, client: PostgrestClient) -> None:
        self._client = client

    @classmethod
    def from_settings(cls, settings: DestinationSettings, *,
                      transport: httpx.AsyncBaseTransport | None = None) -> Self:
        """A probe of the configured destination; tests pass `transport`."""
        return cls(PostgrestClient.from_settings(settings, transport=transport))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def openapi(self) -> ProbeResult:
        return await self._request("GET", "", headers={"Accept": OPENAPI_ACCEPT})

    async def write(self, table: str, columns: list[str]) -> ProbeResult:
        """The empty upsert, then the DELETE matching nothing; the first failure, else the last."""
        upsert = await self._request(
            "POST", table, params={"columns": quote_columns(columns), "on_conflict": "id"}, content=b"[]",
            headers={"Prefer": PREFER_UPSERT, "Content-Type": "application/json"})
        if upsert.status is None or not 200 <= upsert.status < 300:
            return upsert
        return await self._request("DELETE", table, params={"id": "is.null"}, headers={"Prefer": PREFER_MINIMAL})

    async def rpc(self, function: str) -> ProbeResult:
        """`POST /rpc/<function>` with no arguments."""
        return await self._request("POST", f"rpc/{function}", content=b"{}",
                                   headers={"Content-Type": "application/json"})

    async def _request(self, method: str, path: str, **kwargs: Any) -> ProbeResult:
        started = time.monotonic()
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            return ProbeResult(None, error=self._client.redact(f"{type(exc).__name__}: {exc}"),
                               seconds=time.monotonic() - started)
        return self._result(response, time.monotonic() - started)

    def _result(self, response: httpx.Response, seconds: float) -> ProbeResult:
        try:
            data = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            data = None
        code = message = None
        if isinstance(data, dict) and not response.is_success:
            code = data.get("code") if isinstance(data.get("code"), str) else None
            message = data.get("message") if isinstance(data.get("message"), str) else None
        text = self._client.redact(message or response.reason_phrase or "")
        return ProbeResult(response.status_code, code, text, data, seconds)
