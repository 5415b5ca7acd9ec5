"""Before the sink sends anything: the field mapping, checked against the destination's schema."""

from __future__ import annotations

import asyncio

from connectors.postgrest.client import PostgrestClient
from connectors.postgrest.errors import PostgrestAuthError, PostgrestError
from schemas.mapping import FieldMapping, table_definition
from streamer.config import Settings
from streamer.errors import ConfigError
from streamer.sink.health import AUTH_FIX, SinkHealth

RECHECK_SECONDS = 5.0


async def checked_mapping(client: PostgrestClient, settings: Settings, health: SinkHealth,
                          stopping: asyncio.Event) -> FieldMapping | None:
    """The mapping, once the destination's OpenAPI document shows every column it writes.

    Unknown destination columns stop the sink before any request (ConfigError listing them). An
    unreachable or refusing destination is waited on (None if stopped first)."""
    mapping = settings.sink.field_mapping()
    table = settings.destination.table
    while not stopping.is_set():
        try:
            openapi = await client.openapi()
        except PostgrestAuthError as exc:
            health.blocked("auth", f"{exc} — {AUTH_FIX}")
        except PostgrestError as exc:
            health.degraded("destination unavailable", str(exc))
        else:
            unknown = mapping.check_against(table_definition(openapi, table))
            if unknown:
                raise ConfigError([f"STREAMER_SINK__MAPPING_FILE: the destination table {table!r} has no "
                                   f"column(s) {', '.join(sorted(unknown))}: fix the mapping, or add them "
                                   "(`streamer validate schema` prints the SQL)"])
            health.ok()
            return mapping
        try:
            await asyncio.wait_for(stopping.wait(), RECHECK_SECONDS)
        except TimeoutError:
            pass
    return None
