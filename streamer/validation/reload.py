"""`streamer schema reload-cache`: make the destination's PostgREST reload its schema cache, then
wait until its OpenAPI document shows the columns the sync writes (the seed waited 30-60 s).

Two ways to ask (docs/postgrest.md §4):
- with `destination.dsn`: `NOTIFY pgrst, 'reload schema'` on the destination database;
- without: `POST /rpc/streamer_reload_schema_cache`, a SECURITY DEFINER function that sends the
  same NOTIFY (`schemas/sql/destination/020_reload_rpc.sql`, EXECUTE for service_role only):
  what a Supabase project without a DSN uses. The development server answers that call as
  PostgREST does (docs/postgrest.md §9), so both ways are tested against it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.postgres.slot import connect
from schemas.mapping import FieldMapping
from streamer.config import Settings
from streamer.destination.catalog import read_columns
from streamer.destination.fix_sql import RELOAD_NOTIFY
from streamer.errors import CheckFailed
from streamer.texts import Said, said
from streamer.validation.probe import Probe
from streamer.validation.schema import written_columns
from streamer.validation.schema_check import DEST_SCHEMA, read_source

RPC_NAME = "streamer_reload_schema_cache"
RPC_FIX = said("fix.reload_rpc")

Progress = Callable[[float, list[str]], None]
# Polls in a row without any HTTP answer (refused, timed out) before the wait gives up: a
# destination that is down does not come back by waiting for its schema cache.
UNANSWERED_ATTEMPTS = 2
UNANSWERED_FIX = said("fix.api_down")


class Unanswered(Exception):
    """The destination's API gave no HTTP answer at all (as opposed to a 503 while its cache loads)."""


@dataclass(frozen=True)
class WaitOutcome:
    """`missing` is empty on success; `seconds` is how long the wait took; `last_error` is the
    last failed read of the document, if any."""

    missing: tuple[str, ...]
    seconds: float
    polls: int
    last_error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.missing


def missing_from(openapi: Mapping[str, Any], table: str, expected: Collection[str]) -> list[str]:
    """The expected columns the document does not show (all of them, if the table is absent)."""
    definitions = openapi.get("definitions")
    definition = definitions.get(table) if isinstance(definitions, Mapping) else None
    properties = definition.get("properties") if isinstance(definition, Mapping) else None
    if not isinstance(properties, Mapping):
        return [f"(table {table})", *expected]
    return [name for name in expected if name not in properties]


async def notify_via_dsn(dsn: str) -> Said:
    async with connect(dsn) as conn:
        await conn.execute(RELOAD_NOTIFY)
    return said("reload.via_dsn")


async def notify_via_rpc(probe: Probe) -> Said:
    result = await probe.rpc(RPC_NAME)
    if result.status is None:
        raise CheckFailed(said("reload.api_silent", reason=result.error), UNANSWERED_FIX)
    if 200 <= result.status < 300:
        return said("reload.via_rpc", function=RPC_NAME)
    if result.code in ("PGRST202", "PGRST125") or result.status == 404:
        raise CheckFailed(said("reload.no_rpc", function=RPC_NAME, code=result.code or result.status,
                               reason=result.message), RPC_FIX)
    raise CheckFailed(said("reload.rpc_failed", function=RPC_NAME, status=result.status, code=result.code or "",
                           reason=result.message or result.error), RPC_FIX)


async def wait_for_columns(
    fetch_openapi: Callable[[], Awaitable[Mapping[str, Any]]], table: str, expected: Collection[str], *,
    timeout: float, poll: float, progress: Progress | None = None,  # noqa: ASYNC109 - a deadline polled in steps
    clock: Callable[[], float] = time.monotonic,
) -> WaitOutcome:
    """Poll the OpenAPI document until it shows `expected` or `timeout` seconds pass.

    `fetch_openapi` raising `Unanswered` UNANSWERED_ATTEMPTS times in a row ends the wait with
    CheckFailed ("the destination's API does not answer"); other errors are polled through."""
    started = clock()
    polls = unanswered = 0
    last_error: str | None = None
    while True:
        polls += 1
        try:
            missing = missing_from(await fetch_openapi(), table, expected)
            unanswered = 0
        except Unanswered as exc:
            unanswered += 1
            if unanswered >= UNANSWERED_ATTEMPTS:
                raise CheckFailed(said("reload.api_silent", reason=str(exc)), UNANSWERED_FIX) from None
            last_error, missing = str(exc), list(expected) or ["(OpenAPI document unreadable)"]
        except Exception as exc:  # a 503 PGRST002 while the cache loads: keep polling until the timeout
            unanswered = 0
            last_error, missing = str(exc), list(expected) or ["(OpenAPI document unreadable)"]
        elapsed = clock() - started
        if not missing or elapsed >= timeout:
            return WaitOutcome(tuple(missing), elapsed, polls, None if not missing else last_error)
        if progress is not None:
            progress(elapsed, missing)
        await asyncio.sleep(min(poll, max(0.0, timeout - elapsed)))


@dataclass(frozen=True)
class ReloadOutcome:
    how_said: Said  # how the reload was asked for
    wait: WaitOutcome
    not_in_database: tuple[str, ...] = ()

    @property
    def how(self) -> str:
        return self.how_said.english


async def reload_schema_cache(
    settings: Settings, mapping: FieldMapping, *, progress: Progress | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ReloadOutcome:
    """Ask for a reload, then wait for the columns the sync writes that the database has."""
    dest = settings.destination
    if dest.service_key is None or not dest.service_key.get_secret_value():
        raise CheckFailed(said("reload.no_service_key"), said("fix.service_key"))
    expected, not_in_db = await _expected_columns(settings, mapping)
    async with Probe.from_settings(dest, transport=transport) as probe:
        how = await (notify_via_dsn(dest.dsn.get_secret_value()) if dest.dsn else notify_via_rpc(probe))

        async def fetch() -> Mapping[str, Any]:
            result = await probe.openapi()
            if result.status is None:
                raise Unanswered(result.error)
            if result.status != 200 or not isinstance(result.json, dict):
                raise CheckFailed(f"OpenAPI answered {result.status} {result.code or ''} {result.message}".strip())
            return result.json

        wait = await wait_for_columns(fetch, dest.table, expected, timeout=settings.validation.reload_timeout_seconds,
                                      poll=settings.validation.reload_poll_seconds, progress=progress)
    return ReloadOutcome(how, wait, tuple(not_in_db))


async def _expected_columns(settings: Settings, mapping: FieldMapping) -> tuple[list[str], list[str]]:
    """The destination columns the sync writes, split into those the database has (to wait for)
    and those it lacks (waiting cannot help: run the ALTER first). Without a DSN, all are waited for."""
    source = await read_source(settings)
    wanted = list(written_columns(source, mapping))
    if settings.destination.dsn is None:
        return wanted, []
    async with connect(settings.destination.dsn.get_secret_value()) as conn:
        present = {c.name for c in await read_columns(conn, DEST_SCHEMA, settings.destination.table)}
    return [c for c in wanted if c in present], [c for c in wanted if c not in present]
