"""`streamer db migrate`: apply the shipped SQL to the source or the destination database."""

from __future__ import annotations

from connectors.postgres.errors import PostgresError
from connectors.postgres.migrations import MigrationFailed, Outcome, apply_to
from schemas.sql_files import Target, migration_files
from streamer.config import Settings
from streamer.errors import ConfigError, MigrationError


def dsn_for(settings: Settings, target: Target) -> str:
    if target == "source":
        return settings.source.dsn.get_secret_value()
    if settings.destination.dsn is None:
        raise ConfigError(["STREAMER_DESTINATION__DSN: needed to migrate the destination (its "
                           "PostgreSQL URL; on Supabase, the project's connection string)"])
    return settings.destination.dsn.get_secret_value()


async def migrate(settings: Settings, target: Target) -> list[Outcome]:
    try:
        return await apply_to(dsn_for(settings, target), migration_files(target))
    except MigrationFailed as exc:
        hint = (f" — role {exc.user!r} lacks a privilege: run the migration as the tables' owner or a "
                "superuser (on Supabase, the postgres role), or GRANT it what the message names"
                if exc.lacks_privilege else "")
        raise MigrationError(f"{target}: {exc}{hint}") from None
    except PostgresError as exc:  # the connection failed (apply_to names asyncpg's error)
        raise MigrationError(f"cannot connect to the {target} database: {exc}") from None
