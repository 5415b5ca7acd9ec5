"""The running pipeline's health for `streamer doctor`: the capture slot, the sink's consumer
lag, Kafka's replication, stuck export jobs and error-table growth. Each check is a pure verdict over facts (tested on
literals) plus a small reader of those facts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import asyncpg
from aiokafka.structs import TopicPartition

from connectors.kafka.client import Admin, Consumer
from connectors.kafka.errors import translate_kafka_errors
from connectors.kafka.settings import KafkaSettings, replication_problem
from connectors.postgres.errors import translate_errors
from connectors.postgres.slot import SlotStatus, slot_status
from streamer.validation.report import Check, Status

GiB = 1024**3


def _size(n: int) -> str:
    return f"{n / GiB:.2f} GiB" if n >= GiB / 10 else f"{n / 1024**2:.1f} MiB"


def slot_verdict(status: SlotStatus | None, slot: str, max_retained: int) -> Check:
    """Missing, lost, idle or holding too much WAL; ok otherwise."""
    if status is None:
        return Check("slot", "warn", f"no slot {slot!r} on the source",
                     "start the capture (`streamer run` with capture): it creates the slot; the changes made "
                     "before then reach the destination through an export job")
    retained = status.retained_wal_bytes or 0
    if status.wal_status == "lost":
        return Check("slot", "fail", f"slot {slot!r} lost WAL it needed (wal_status=lost): changes were missed",
                     "`streamer slot drop --yes`, restart the capture with STREAMER_SOURCE__SNAPSHOT_MODE=always, "
                     "or run an export job for the gap")
    detail = f"{'active' if status.active else 'inactive'}, retains {_size(retained)} of WAL"
    if retained > max_retained:
        return Check("slot", "warn", f"{detail} (over {_size(max_retained)}): the source disk fills while "
                                     "the capture lags or is stopped",
                     "start or unblock the capture; if it is retired for good, `streamer slot drop`")
    if not status.active:
        return Check("slot", "warn", f"{detail}: no capture is reading it",
                     "start the capture (`streamer run` with STREAMER_RUN__COMPONENTS including capture)")
    return Check("slot", "ok", detail)


def lag_verdict(
    topic: str, group: str, end: Mapping[int, int], committed: Mapping[int, int | None], max_lag: int,
) -> Check:
    """The group's lag: end offset minus committed offset, per partition, summed."""
    name = "consumer lag"
    if not end:
        return Check(name, "warn", f"topic {topic} does not exist yet",
                     "start the capture (it creates the topic) or check STREAMER_KAFKA__TOPIC_PREFIX")
    if all(committed.get(p) is None for p in end):
        backlog = sum(end.values())
        status: Status = "warn" if backlog > max_lag else "ok"
        return Check(name, status, f"group {group} has committed nothing on {topic} ({backlog} record(s) behind)",
                     "start the sink (STREAMER_RUN__COMPONENTS including sink)" if status == "warn" else "")
    lag = {p: max(0, e - (committed.get(p) or 0)) for p, e in end.items()}
    total = sum(lag.values())
    worst = max(lag, key=lambda p: lag[p])
    detail = f"group {group} is {total} record(s) behind on {topic} (partition {worst}: {lag[worst]})"
    if total > max_lag:
        return Check(name, "warn", detail, "check that the sink runs and is healthy (/readyz, its logs); a "
                                           "blocked sink names its cause (auth, schema drift)")
    return Check(name, "ok", detail)


def replication_verdict(replication_factor: int, live_brokers: int, under_replicated: Mapping[str, int]) -> Check:
    """More replicas wanted than live brokers fails (a missing topic cannot be created); partitions
    of our topics with fewer in-sync replicas than replicas warn (a broker is down or behind)."""
    name = "kafka replication"
    problem = replication_problem(replication_factor, live_brokers)
    if problem:
        return Check(name, "fail", problem, "set STREAMER_KAFKA__REPLICATION_FACTOR to the brokers you run "
                                             "(3 with STREAMER_KAFKA__MIN_INSYNC_REPLICAS=2 on 3 brokers)")
    detail = f"replication factor {replication_factor}, {live_brokers} live broker(s)"
    behind = {t: n for t, n in under_replicated.items() if n}
    if behind:
        listed = ", ".join(f"{t}: {n}" for t, n in sorted(behind.items()))
        return Check(name, "warn", f"{detail}; under-replicated partitions ({listed})",
                     "a broker is down or catching up: start it again (docs/cluster.md); writes continue while "
                     "min.insync.replicas replicas are in sync")
    return Check(name, "ok", detail)


async def replication(settings: KafkaSettings, topics: Sequence[str]) -> Check:
    async with Admin(settings) as admin:
        brokers = await admin.live_brokers()
        under = await admin.under_replicated(topics)
    return replication_verdict(settings.replication_factor, brokers, under)


@dataclass(frozen=True)
class StuckJob:
    id: str
    idle_seconds: float
    processing_date: str | None = None


def stuck_verdict(jobs: Sequence[StuckJob], threshold_seconds: float) -> Check:
    if not jobs:
        return Check("jobs", "ok", f"no job running without progress for {threshold_seconds / 3600:g} h")
    names = ", ".join(f"{j.id} (idle {j.idle_seconds / 3600:.1f} h)" for j in jobs[:5])
    return Check("jobs", "fail", f"{len(jobs)} job(s) 'running' with no update for over "
                                 f"{threshold_seconds / 3600:g} h: {names}",
                 "its worker stopped: pause it (UPDATE gestao_scouter_export_jobs SET status = 'paused' WHERE id = "
                 "'<id>'), then resume it; it continues from its saved cursor")


def growth_verdict(last_hour: int, previous_hour: int, top: Sequence[tuple[str, int]]) -> Check:
    """Errors recorded in the last hour against the hour before, with the commonest messages."""
    detail = f"{last_hour} lead error(s) in the last hour, {previous_hour} the hour before"
    if last_hour == 0:
        return Check("errors", "ok", detail)
    pattern = "; ".join(f"{n}× {message[:120]}" for message, n in top[:3])
    fix = ("find the pattern (SELECT error_message, count(*) FROM gestao_scouter_export_errors WHERE created_at > "
           "now() - interval '1 hour' GROUP BY 1 ORDER BY 2 DESC): a missing column or type → `streamer validate "
           "schema`; then replay or reset the job")
    status: Status = "fail" if last_hour > max(2 * previous_hour, 10) else "warn"
    return Check("errors", status, f"{detail}; commonest: {pattern}" if pattern else detail, fix)


STUCK_SQL = """
SELECT id::text, extract(epoch FROM now() - coalesce(updated_at, started_at, created_at))::float8 AS idle,
       processing_date::text
FROM public.gestao_scouter_export_jobs
WHERE status = 'running' AND coalesce(updated_at, started_at, created_at) < now() - make_interval(secs => $1)
ORDER BY idle DESC
"""
GROWTH_SQL = """
SELECT count(*) FILTER (WHERE created_at > now() - interval '1 hour') AS last_hour,
       count(*) FILTER (WHERE created_at <= now() - interval '1 hour') AS previous_hour
FROM public.gestao_scouter_export_errors WHERE created_at > now() - interval '2 hours'
"""
TOP_SQL = """
SELECT error_message, count(*) AS n FROM public.gestao_scouter_export_errors
WHERE created_at > now() - interval '1 hour' GROUP BY 1 ORDER BY 2 DESC LIMIT 3
"""


async def read_stuck_jobs(conn: asyncpg.Connection, threshold_seconds: float) -> list[StuckJob]:
    with translate_errors("reading export jobs"):
        rows = await conn.fetch(STUCK_SQL, threshold_seconds)
    return [StuckJob(r["id"], r["idle"], r["processing_date"]) for r in rows]


async def error_growth(conn: asyncpg.Connection) -> Check:
    with translate_errors("reading the error table"):
        counts = await conn.fetchrow(GROWTH_SQL)
        top = await conn.fetch(TOP_SQL)
    assert counts is not None
    return growth_verdict(counts["last_hour"], counts["previous_hour"], [(r["error_message"], r["n"]) for r in top])


async def slot_check(conn: asyncpg.Connection, slot: str, max_retained: int) -> Check:
    return slot_verdict(await slot_status(conn, slot), slot, max_retained)


async def consumer_lag(settings: KafkaSettings, topic: str, group: str, max_lag: int) -> Check:
    """Committed offsets of `group` against end offsets, read by a consumer that joins no group."""
    async with Consumer(settings, group_id=group) as consumer:
        raw = consumer.raw
        with translate_kafka_errors(f"reading offsets of {topic}"):
            partitions = sorted(await consumer.partitions_for_topic(topic) or ())
            tps = [TopicPartition(topic, p) for p in partitions]
            end = {tp.partition: offset for tp, offset in (await raw.end_offsets(tps)).items()} if tps else {}
        committed = {tp.partition: await consumer.committed(tp) for tp in tps}
    return lag_verdict(topic, group, end, committed, max_lag)
