"""`streamer mapping show | export | import`: the field mapping the sink uses, kept in the file
`sink.mapping_file` names. An import is checked against the destination's schema before it
replaces the file, and recorded in the audit log."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from pydantic import ValidationError

from connectors.postgres.slot import connect
from connectors.postgrest.client import PostgrestClient
from schemas.mapping import FieldMapping, table_definition
from streamer.config import Settings
from streamer.errors import ConfigError
from streamer.state import audit


def problem(exc: Exception) -> str:
    """Why a mapping file could not be used, in a few words: the system's reason for a file that
    cannot be read, pydantic's messages (without its URL and the input) for one that does not parse."""
    if isinstance(exc, ValidationError):
        lines = []
        for error in exc.errors(include_url=False, include_input=False):
            where = ".".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"{where}: {message}" if where else message)
        return "; ".join(lines)
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def effective(settings: Settings) -> FieldMapping:
    """The mapping the sink would use now (identity when no file is configured); ConfigError
    naming the file and the problem when the configured file is missing or not a mapping."""
    try:
        return settings.sink.field_mapping()
    except (OSError, ValueError) as exc:
        raise ConfigError([f"field mapping {settings.sink.mapping_file} (STREAMER_SINK__MAPPING_FILE): "
                           f"{problem(exc)}"]) from None


def export(settings: Settings, path: Path) -> None:
    """Write the effective mapping to `path`; ValueError (a usage error) when `path` cannot be
    a file: a directory, or in a directory that does not exist."""
    if path.is_dir():
        raise ValueError(f"{path} is a directory: give the file to write, e.g. {path / 'mapping.json'}")
    if not path.parent.is_dir():
        raise ValueError(f"cannot write {path}: directory {path.parent} does not exist")
    mapping = effective(settings)
    try:
        mapping.dump(path)
    except OSError as exc:
        raise ConfigError([f"cannot write {path}: {problem(exc)}"]) from None


def import_mapping(settings: Settings, path: Path) -> FieldMapping:
    """Validate `path` (format, and columns against the destination) and install it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{path}: not a field mapping ({problem(exc)})"]) from None
    return asyncio.run(install(settings, data, origin=str(path),
                               actor=settings.history.operator or audit.default_operator()))


async def install(settings: Settings, data: bytes, *, origin: str, actor: str) -> FieldMapping:
    """Validate `data` (the seed's JSON format, and its columns against the destination's schema)
    and install it as `sink.mapping_file`, with an audit entry `mapping.import` by `actor`.
    ConfigError naming the problem (`origin` says where the data came from) when it is refused."""
    target = settings.sink.mapping_file
    if target is None:
        raise ConfigError(["STREAMER_SINK__MAPPING_FILE: set it to the file the sink reads the mapping from"])
    try:
        mapping = FieldMapping.from_json(data)
    except ValueError as exc:
        raise ConfigError([f"{origin}: not a field mapping ({problem(exc)})"]) from None
    unknown = await _unknown_columns(settings, mapping)
    if unknown:
        raise ConfigError([f"{origin}: the destination table {settings.destination.table!r} has no column(s) "
                           f"{', '.join(sorted(unknown))} (`streamer validate schema` prints the SQL)"])
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(target.suffix + ".tmp")
        temporary.write_bytes(data)
        os.replace(temporary, target)
    except OSError as exc:
        raise ConfigError([f"cannot write {target} (STREAMER_SINK__MAPPING_FILE): {problem(exc)}"]) from None
    await _audit(settings, actor, {"file": origin, "installed_as": str(target),
                                   "sha256": hashlib.sha256(data).hexdigest(),
                                   "fieldMappings": len(mapping.field_mappings)})
    return mapping


async def _unknown_columns(settings: Settings, mapping: FieldMapping) -> list[str]:
    async with PostgrestClient.from_settings(settings.destination) as client:
        definition = table_definition(await client.openapi(), settings.destination.table)
    return list(mapping.check_against(definition))


async def _audit(settings: Settings, actor: str, parameters: dict[str, object]) -> None:
    async with connect(settings.source.dsn.get_secret_value()) as conn:
        await audit.record(conn, actor=actor, action="mapping.import", parameters=parameters)
