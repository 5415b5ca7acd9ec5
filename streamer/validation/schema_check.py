"""`streamer validate schema`, the I/O around `schema.compare_schema`: read the source catalog
and the destination's OpenAPI document (sharpened by its catalog when a DSN is configured),
compare, and cache passing results for `validation.cache_seconds`."""

from __future__ import annotations

from dataclasses import dataclass

from connectors.postgres.slot import connect
from connectors.postgrest.client import PostgrestClient
from connectors.postgrest.errors import PostgrestAuthError
from schemas.mapping import IDENTITY, FieldMapping
from streamer.config import Settings
from streamer.destination.catalog import Column, columns_from_openapi, overlay, read_columns
from streamer.sections import SinkSettings
from streamer.validation.cache import ResultCache, cache_key
from streamer.validation.errors import ValidationError
from streamer.validation.schema import SchemaReport, compare_schema

DEST_SCHEMA = "public"  # PostgREST's first db-schemas entry, Supabase's default


def mapping_from(sink: SinkSettings) -> FieldMapping:
    """The field mapping the settings name (`sink.mapping_file`), with their unmapped policy."""
    mapping = FieldMapping.load(sink.mapping_file) if sink.mapping_file else IDENTITY
    return mapping.with_policy(sink.unmapped_columns)


@dataclass(frozen=True)
class SchemaOutcome:
    report: SchemaReport
    cached: bool


def result_cache(settings: Settings) -> ResultCache:
    return ResultCache(settings.validation.cache_dir, settings.validation.cache_seconds)


async def validate_schema(settings: Settings, mapping: FieldMapping, *, use_cache: bool = True) -> SchemaOutcome:
    """The comparison, from the cache when a passing one is fresh and `use_cache`."""
    cache = result_cache(settings)
    key = cache_key(settings.destination.url, f"{settings.source.schema_name}.{settings.source.table}",
                    settings.destination.table, mapping)
    if use_cache and (hit := cache.get(key)) is not None:
        return SchemaOutcome(hit, cached=True)
    report = await compare_live(settings, mapping)
    cache.put(key, report)
    return SchemaOutcome(report, cached=False)


async def compare_live(settings: Settings, mapping: FieldMapping) -> SchemaReport:
    source = await read_source(settings)
    destination = await read_destination(settings)
    return compare_schema(source, destination, mapping, table=settings.destination.table, schema=DEST_SCHEMA)


async def read_source(settings: Settings) -> list[Column]:
    src = settings.source
    async with connect(src.dsn.get_secret_value()) as conn:
        columns = await read_columns(conn, src.schema_name, src.table)
    if not columns:
        raise ValidationError(f"the source has no table {src.schema_name}.{src.table}: "
                              "run `streamer db migrate --target source` or fix STREAMER_SOURCE__TABLE")
    return columns


async def read_destination(settings: Settings) -> dict[str, Column]:
    dest = settings.destination
    try:
        async with PostgrestClient.from_settings(dest) as client:
            openapi = await client.openapi()
    except PostgrestAuthError as exc:
        raise ValidationError(f"{exc}: run `streamer validate config`") from exc
    definition = (openapi.get("definitions") or {}).get(dest.table)
    if not isinstance(definition, dict):
        raise ValidationError(f"the destination's API does not show table {dest.table} (missing, no grant to "
                              "service_role, or a stale schema cache): run `streamer validate config`")
    seen = columns_from_openapi(definition)
    if dest.dsn is None:
        return seen
    async with connect(dest.dsn.get_secret_value()) as conn:
        return overlay(seen, await read_columns(conn, DEST_SCHEMA, dest.table))
