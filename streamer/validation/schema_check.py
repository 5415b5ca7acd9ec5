"""`streamer validate schema`, the I/O around `schema.compare_schema`: read the source catalog
and the destination's OpenAPI document (sharpened by its catalog when a DSN is configured),
measure the source's data where the destination is narrower, compare, and cache passing results
for `validation.cache_seconds`.

Both catalogs are read on every run and their fingerprint is part of the cache key, so a cached
pass is served only while neither side changed: a column dropped or narrowed at the destination
is a new comparison at once. A pass that depended on the source's data (a narrower destination
column the values fit today) is not cached at all: the next long value would make it wrong."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from connectors.postgres.errors import translate_errors
from connectors.postgres.slot import connect, quote_ident
from connectors.postgrest.client import PostgrestClient
from connectors.postgrest.errors import PostgrestAuthError
from schemas.mapping import IDENTITY, FieldMapping
from streamer.config import Settings
from streamer.destination.catalog import Column, columns_from_openapi, overlay, read_columns
from streamer.destination.types import Measure
from streamer.sections import SinkSettings
from streamer.validation.cache import ResultCache, cache_key
from streamer.validation.errors import ValidationError
from streamer.validation.schema import Extent, SchemaReport, compare_schema, to_measure

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
    """The comparison, from the cache when a passing one is fresh, made on the same catalogs, and
    `use_cache`."""
    cache = result_cache(settings)
    source = await read_source(settings)
    destination = await read_destination(settings)
    key = cache_key(settings.destination.url, f"{settings.source.schema_name}.{settings.source.table}",
                    settings.destination.table, mapping, fingerprint(source, destination))
    if use_cache and (hit := cache.get(key)) is not None:
        return SchemaOutcome(hit, cached=True)
    wanted = to_measure(source, destination, mapping)
    report = compare_schema(source, destination, mapping, table=settings.destination.table, schema=DEST_SCHEMA,
                            extents=await read_extents(settings, wanted))
    if not wanted:
        cache.put(key, report)
    return SchemaOutcome(report, cached=False)


def fingerprint(source: Sequence[Column], destination: Mapping[str, Column]) -> str:
    """A digest of both catalogs as compared (names, types, nullability, defaults)."""
    material = "\n".join(f"{side}:{c.name}:{c.type}:{c.nullable}:{c.has_default}"
                         for side, columns in (("s", list(source)), ("d", list(destination.values())))
                         for c in columns)
    return hashlib.sha256(material.encode()).hexdigest()[:32]


async def read_extents(settings: Settings, wanted: Mapping[str, Measure]) -> dict[str, Extent]:
    """The widest values of the `wanted` source columns, in one scan of the source table."""
    if not wanted:
        return {}
    parts: list[str] = []
    for name, measure in wanted.items():
        column = quote_ident(name)
        if measure == "length":
            parts.append(f"max(char_length({column}::text))")
        else:
            value = f"{column}::numeric"
            parts.append(f"max(CASE WHEN abs({value}) >= 1 THEN length(trunc(abs({value}))::text) ELSE 0 END)")
            parts.append(f"max(scale({value}))")
    src = settings.source
    sql = f"SELECT {', '.join(parts)} FROM {quote_ident(src.schema_name)}.{quote_ident(src.table)}"
    async with connect(src.dsn.get_secret_value()) as conn:
        with translate_errors(f"measuring the values of {src.schema_name}.{src.table}"):
            row = await conn.fetchrow(sql)
    assert row is not None
    values, extents = list(row.values()), {}
    for name, measure in wanted.items():
        if measure == "length":
            extents[name] = Extent(max_length=values.pop(0))
        else:
            extents[name] = Extent(integer_digits=values.pop(0), scale=values.pop(0))
    return extents


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
