"""`streamer slot status | drop`: the capture slot, seen and managed from the CLI."""

from __future__ import annotations

from typing import Any

from connectors.postgres import slot as slots
from connectors.postgres.errors import translate_errors
from connectors.postgres.lsn import format_lsn
from streamer.config import Settings


async def read_status(settings: Settings) -> dict[str, Any] | None:
    async with slots.connect(settings.source.dsn.get_secret_value()) as conn:
        status = await slots.slot_status(conn, settings.source.slot)
    if status is None:
        return None
    return {
        "slot": status.slot_name,
        "active": status.active,
        "active_pid": status.active_pid,
        "confirmed_flush_lsn": format_lsn(status.confirmed_flush_lsn) if status.confirmed_flush_lsn else None,
        "restart_lsn": format_lsn(status.restart_lsn) if status.restart_lsn else None,
        "retained_wal_bytes": status.retained_wal_bytes,
        "confirmed_lag_bytes": status.confirmed_lag_bytes,
        "wal_status": status.wal_status,
        # Which reader holds the slot now (None: no reader at this moment; the SQL reader holds it
        # only during each peek), and which one this configuration's capture would use.
        "reader": status.reader,
        "reader_setting": (settings.source.slot_reader if settings.source.capture_mode == "replication"
                           else "none (capture_mode=notify)"),
    }


async def drop(settings: Settings) -> bool:
    async with slots.connect(settings.source.dsn.get_secret_value()) as conn:
        with translate_errors(f"drop slot {settings.source.slot}"):  # PostgresError for the CLI to report
            dropped = await slots.drop_slot(conn, settings.source.slot)
            await slots.drop_publication(conn, settings.source.publication)
            await conn.execute("DELETE FROM public.streamer_capture_state WHERE name = $1", settings.source.slot)
    return dropped
