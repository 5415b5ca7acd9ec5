"""`streamer doctor`: every check in one report, a status per line and the fix for each problem.

The groups run concurrently, each behind a timeout, and a group that cannot run (a database down)
becomes failed lines of its own without hiding the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import asyncpg

from connectors.postgres.errors import PostgresError
from connectors.postgres.slot import connect
from schemas.mapping import FieldMapping
from streamer.config import Settings
from streamer.validation import health, loop
from streamer.validation.config_check import validate_config
from streamer.validation.report import Check, run_check
from streamer.validation.schema_check import DEST_SCHEMA, validate_schema

GROUP_TIMEOUT = 60.0


async def doctor(settings: Settings, mapping: FieldMapping, *, use_cache: bool = False) -> list[Check]:
    groups = await asyncio.gather(
        _group("destination", _config(settings, mapping)),
        _group("schema", _schema(settings, mapping, use_cache)),
        _group("source", _source(settings)),
        _group("kafka", _kafka(settings)),
        _group("loop: destination", _destination_loop(settings)),
    )
    return [check for group in groups for check in group]


async def _group(name: str, work: Awaitable[list[Check]]) -> list[Check]:
    try:
        return await asyncio.wait_for(work, GROUP_TIMEOUT)
    except TimeoutError:
        return [Check(name, "fail", f"no answer within {GROUP_TIMEOUT:g} s")]
    except Exception as exc:  # a group that cannot run is one failed line
        return [Check(name, "fail", f"{type(exc).__name__}: {exc}")]


async def _config(settings: Settings, mapping: FieldMapping) -> list[Check]:
    checks = await validate_config(settings, mapping)
    return [Check(f"destination {c.name}", c.status, c.detail, c.fix) for c in checks]


async def _schema(settings: Settings, mapping: FieldMapping, use_cache: bool) -> list[Check]:
    report = (await validate_schema(settings, mapping, use_cache=use_cache)).report
    counts = f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    if not report.findings:
        return [Check("schema", "ok", f"{report.table}: every column the sync writes fits")]
    first = "; ".join(f"{f.column}: {f.message}" for f in (report.errors or report.warnings)[:3])
    fix = "`streamer validate schema` prints the report" + (
        f" and this SQL for Gestão Scouter's SQL editor:\n{report.fix_sql}" if report.fix_sql else "")
    return [Check("schema", "fail" if report.errors else "warn", f"{counts}: {first}", fix)]


async def _source(settings: Settings) -> list[Check]:
    src, val = settings.source, settings.validation
    async with connect(src.dsn.get_secret_value()) as conn:
        checks = []
        if src.capture_mode == "replication":
            checks.append(await run_check("slot", health.slot_check(conn, src.slot, val.max_retained_wal_bytes)))
        checks.append(await run_check("jobs", _migrated("jobs", _stuck(conn, val.stuck_job_seconds))))
        checks.append(await run_check("errors", _migrated("errors", health.error_growth(conn))))
        checks.append(await run_check("loop: source tag", _tagging(conn, settings)))
    return checks


async def _migrated(name: str, probe: Awaitable[Check]) -> Check:
    """`probe`, with the fix for a missing table the source migrations create (SQLSTATE 42P01)."""
    try:
        return await probe
    except PostgresError as exc:
        if exc.sqlstate != "42P01":
            raise
        return Check(name, "fail", str(exc), "run `streamer db migrate --target source`")


async def _stuck(conn: asyncpg.Connection, threshold: float) -> Check:
    return health.stuck_verdict(await health.read_stuck_jobs(conn, threshold), threshold)


async def _tagging(conn: asyncpg.Connection, settings: Settings) -> Check:
    src = settings.source
    column = await loop.has_column(conn, src.schema_name, src.table, "sync_source")
    trigger = await loop.read_trigger(conn, src.schema_name, src.table, loop.TAG_TRIGGER)
    return loop.tagging_verdict(column, trigger, settings.sink.skip_sync_sources, src.table)


async def _kafka(settings: Settings) -> list[Check]:
    topic = settings.kafka.leads_topic  # the topic the capture writes and the sink reads, whatever the table
    return [await run_check("consumer lag", health.consumer_lag(
        settings.kafka, topic, settings.sink.group_id, settings.validation.max_consumer_lag)),
        await run_check("kafka replication", health.replication(settings.kafka, [topic]))]


async def _destination_loop(settings: Settings) -> list[Check]:
    dest = settings.destination
    if dest.dsn is None:
        return [Check("reverse sync", "skip", "no STREAMER_DESTINATION__DSN: the destination's triggers were not "
                                              "read", "set it to check the reverse trigger and its loop guard")]
    async with connect(dest.dsn.get_secret_value()) as conn:
        column = await loop.has_column(conn, DEST_SCHEMA, dest.table, "sync_source")
        trigger = await loop.read_trigger(conn, DEST_SCHEMA, dest.table, loop.REVERSE_TRIGGER)
        tagger = await loop.read_trigger(conn, DEST_SCHEMA, dest.table, loop.DESTINATION_TAG_TRIGGER)
    return loop.reverse_verdict(column, trigger, loop.webhook_key_configured(settings), dest.table, tagger=tagger)
