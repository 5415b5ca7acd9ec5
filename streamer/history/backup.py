"""`export start --backup`: copy the destination's leads to a timestamped table first, as the
seed advised before large exports (`CREATE TABLE leads_backup AS SELECT * FROM leads`).

The copy gets RLS and the service_role policy like every table the product creates: a backup
in Supabase's `public` schema without them would be readable through the Data API.
"""

from __future__ import annotations

from datetime import datetime

from connectors.postgres import slot as pg
from connectors.postgres.errors import PostgresError, translate_errors
from streamer.config import Settings
from streamer.state.errors import BackupError


def backup_name(table: str, now: datetime) -> str:
    """`leads_backup_20240502_031500` (UTC), a valid unquoted identifier under 63 bytes."""
    return f"{table}_backup_{now.strftime('%Y%m%d_%H%M%S')}"[:63]


async def backup_destination(settings: Settings, now: datetime) -> tuple[str, int]:
    """Copy the destination's leads table; return (backup table, rows copied)."""
    if settings.destination.dsn is None:
        raise BackupError("--backup needs the destination's PostgreSQL URL: set STREAMER_DESTINATION__DSN "
                          "(on Supabase, the project's connection string)")
    source = pg.quote_ident(settings.destination.table)
    target = pg.quote_ident(backup_name(settings.destination.table, now))
    try:
        async with pg.connect(settings.destination.dsn.get_secret_value()) as conn, conn.transaction():
            with translate_errors("back up the destination's leads"):
                await conn.execute(f"CREATE TABLE public.{target} (LIKE public.{source} INCLUDING ALL)")
                status = await conn.execute(f"INSERT INTO public.{target} SELECT * FROM public.{source}")
                await conn.execute(f"ALTER TABLE public.{target} ENABLE ROW LEVEL SECURITY")
                await conn.execute(f"CREATE POLICY service_role_full_access ON public.{target} FOR ALL "
                                   f"TO service_role USING (true) WITH CHECK (true)")
    except PostgresError as exc:
        raise BackupError(f"backup of the destination's {settings.destination.table} failed: {exc}") from exc
    return backup_name(settings.destination.table, now), int(status.split()[-1])
