"""Replay: re-land events already on the leads topic through a consumer group of their own.

    plan (CLI): start offsets from a time (`offsets_for_times`) or given, stop offsets from
                `--to-time` or the partitions' ends -> a `replay` job holding both
    run:        commit the start offsets for `<replay_group_prefix>-<job id>`, then run the sink
                in burst mode (`stop_at`) until every partition reached its stop offset

Progress is counted in events: the group's committed offsets past the start, of the total
between start and stop. Events keep the job id they were produced with (an export's, or none),
so the sink's per-lead counters (`record_outcomes`) do not count a replay.
Stop offsets are exclusive, like Kafka's end offsets: `--to-time T2` stops before the first
event stamped after T2.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from connectors.kafka.client import Consumer, common_options
from connectors.kafka.errors import translate_kafka_errors
from connectors.kafka.settings import KafkaSettings
from streamer.config import Settings
from streamer.lifecycle import wait_until_set
from streamer.logging import get_logger
from streamer.metrics import Metrics
from streamer.state import store
from streamer.state.errors import HistoryError
from streamer.state.jobs import Outcome
from streamer.state.store import Job

log = get_logger(__name__)
Offsets = dict[int, int]


# --- pure ----------------------------------------------------------------------------------------

def parse_offsets(text: str) -> Offsets:
    """`"0:120,1:98"` → `{0: 120, 1: 98}` (partition:offset pairs, as `--from-offsets` takes them)."""
    out: Offsets = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        partition, sep, offset = part.partition(":")
        if not sep or not partition.strip().isdigit() or not offset.strip().isdigit():
            raise ValueError(f"expected partition:offset[,partition:offset...], got {part!r}")
        if int(partition) in out:
            raise ValueError(f"partition {partition} given twice")
        out[int(partition)] = int(offset)
    if not out:
        raise ValueError("no partition:offset pair given")
    return out


def resolve(found: Mapping[int, int | None], ends: Mapping[int, int]) -> Offsets:
    """Per partition, the offset found for a time, or the end when no event is that recent."""
    out: Offsets = {}
    for p, end in ends.items():
        offset = found.get(p)
        out[p] = end if offset is None else min(offset, end)
    return out


def plan(ends: Mapping[int, int], beginnings: Mapping[int, int], start: Mapping[int, int],
         stop: Mapping[int, int] | None = None) -> tuple[Offsets, Offsets]:
    """(start, stop) for every partition: given starts clamped into [beginning, end], partitions
    not named start at their end (nothing to replay there), stops default to the ends."""
    unknown = sorted(set(start) - set(ends))
    if unknown:
        raise ValueError(f"the topic has no partition {unknown[0]} (it has {len(ends)})")
    first = {p: max(beginnings.get(p, 0), min(start.get(p, ends[p]), ends[p])) for p in ends}
    last = {p: max(first[p], min((stop or ends).get(p, ends[p]), ends[p])) for p in ends}
    return first, last


def total_events(start: Mapping[int, int], stop: Mapping[int, int]) -> int:
    return sum(max(0, stop[p] - start[p]) for p in stop)


def progress(start: Mapping[int, int], stop: Mapping[int, int], committed: Mapping[int, int | None]) -> int:
    """Events replayed so far: each partition's committed offset past its start, capped at its stop."""
    done = 0
    for p, end in stop.items():
        position = committed.get(p)
        if position is not None:
            done += max(0, min(position, end) - start[p])
    return done


def to_json(offsets: Mapping[int, int]) -> dict[str, int]:
    return {str(p): o for p, o in sorted(offsets.items())}


def from_json(data: Mapping[str, Any]) -> Offsets:
    return {int(p): int(o) for p, o in data.items()}


def group_for(prefix: str, job_id: str) -> str:
    return f"{prefix}-{job_id}"


# --- Kafka ---------------------------------------------------------------------------------------

async def partitions_of(settings: KafkaSettings, topic: str) -> list[int]:
    """The topic's partition numbers (a consumer's metadata cache may not know the topic yet)."""
    admin = AIOKafkaAdminClient(**common_options(settings))
    try:
        with translate_kafka_errors(f"describing topic {topic}"):
            await admin.start()
            described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = sorted(p["partition"] for d in described if not d["error_code"] for p in d["partitions"])
    if not partitions:
        raise HistoryError(f"topic {topic} does not exist (or has no partitions)")
    return partitions


@asynccontextmanager
async def assigned(settings: KafkaSettings, topic: str,
                   group_id: str) -> AsyncIterator[tuple[Consumer, list[TopicPartition]]]:
    """A consumer of `group_id` manually assigned every partition of `topic` (no group join)."""
    partitions = await partitions_of(settings, topic)
    async with Consumer(settings, group_id=group_id) as consumer:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.raw.assign(tps)
        yield consumer, tps


async def plan_offsets(settings: KafkaSettings, topic: str, group_id: str, *, from_ms: int | None = None,
                       to_ms: int | None = None, from_offsets: Offsets | None = None) -> tuple[Offsets, Offsets]:
    """(start, stop) offsets of a replay, from a time or given offsets, up to `to_ms` or the end."""
    async with assigned(settings, topic, group_id) as (consumer, tps):
        raw = consumer.raw
        with translate_kafka_errors(f"reading the offsets of {topic}"):
            ends = {tp.partition: o for tp, o in (await raw.end_offsets(tps)).items()}
            beginnings = {tp.partition: o for tp, o in (await raw.beginning_offsets(tps)).items()}
            start = from_offsets if from_offsets is not None else await _offsets_at(raw, tps, from_ms or 0, ends)
            # Events stamped at T2 itself are included: stop before the first one after it.
            stop = await _offsets_at(raw, tps, to_ms + 1, ends) if to_ms is not None else None
    return plan(ends, beginnings, start, stop)


async def _offsets_at(raw: Any, tps: list[TopicPartition], ts_ms: int, ends: Offsets) -> Offsets:
    found = await raw.offsets_for_times({tp: ts_ms for tp in tps})
    return resolve({tp.partition: (v.offset if v is not None else None) for tp, v in found.items()}, ends)


async def commit_start(settings: KafkaSettings, topic: str, group_id: str, start: Offsets) -> None:
    """Make the replay group start at `start` (its first fetch reads from these offsets)."""
    async with assigned(settings, topic, group_id) as (consumer, tps):
        await consumer.commit({tp: start[tp.partition] for tp in tps if tp.partition in start})


async def committed_offsets(consumer: Consumer, tps: list[TopicPartition]) -> dict[int, int | None]:
    return {tp.partition: await consumer.committed(tp) for tp in tps}


# --- the runner ----------------------------------------------------------------------------------

class LandBurst(Protocol):
    """Lands the events of `topic` between the group's committed offsets and `stop_at` (exclusive)
    in burst mode, then returns: the sink's `land_burst`, with the same batching, mapping,
    `updated_at` guard and error handling as the service. Given by the composition
    (cli/components.py), so history does not import the sink."""

    async def __call__(self, settings: Settings, metrics: Metrics, *, group_id: str, topic: str,
                       stop_at: dict[TopicPartition, int], stopping: asyncio.Event) -> None: ...


async def run_replay(settings: Settings, metrics: Metrics, conn: asyncpg.Connection, job: Job,
                     stopping: asyncio.Event, *, land: LandBurst) -> Outcome:
    """Run a replay job on `conn` (which holds its lock) until it completes, pauses or is stopped."""
    claimed = await store.claim(conn, job)
    if claimed is None:
        return "finished"
    job, opts = claimed, dict(claimed.options or {})
    topic, group = opts["topic"], opts.get("group_id") or group_for(settings.history.replay_group_prefix, job.id)
    start, stop = from_json(opts["start"]), from_json(opts["stop"])
    # The total follows from the offsets the job holds; a reset zeroes every job's total (an
    # export counts its range again when it starts), so a replay sets its own again here.
    total = total_events(start, stop)
    if job.total_leads != total:
        if not await store.set_total(conn, job, total):
            return "finished"
        job = dataclasses.replace(job, total_leads=total)
    if job.cursor is None:  # a fresh start (or a reset): the group begins at the start offsets
        await commit_start(settings.kafka, topic, group, start)
        if await store.save_page(conn, job, {"start_committed": True, "group_id": group}, 0, None, None) != "running":
            return "finished"
    log.info("replay running", job_id=job.id, group=group, events=job.total_leads)
    sink_stop = asyncio.Event()
    stop_at = {TopicPartition(topic, p): o for p, o in stop.items()}
    watcher = asyncio.create_task(_watch(settings, conn, job, group, topic, (start, stop), stopping, sink_stop))
    try:
        await land(settings, metrics, group_id=group, topic=topic, stop_at=stop_at, stopping=sink_stop)
    finally:
        sink_stop.set()
        outcome = await watcher
    if outcome != "drained":
        return "paused" if outcome == "paused" else "cancelled" if outcome == "cancelled" else (
            "reset" if outcome == "reset" else "stopped")
    await store.finish(conn, job, "complete")
    log.info("replay completed", job_id=job.id, events=job.total_leads)
    return "completed"


async def _watch(settings: Settings, conn: asyncpg.Connection, job: Job, group: str, topic: str,
                 offsets: tuple[Offsets, Offsets], stopping: asyncio.Event, sink_stop: asyncio.Event) -> str:
    """Publish progress each second; stop the sink when the job leaves `running` or the service stops."""
    start, stop = offsets
    async with assigned(settings.kafka, topic, group) as (consumer, tps):
        while True:
            done = progress(start, stop, await committed_offsets(consumer, tps))
            await store.set_progress(conn, job, done)
            if sink_stop.is_set():
                return "drained" if done >= total_events(start, stop) else "stopped"
            now = await store.current(conn, job)
            if now is None or now.status != "running" or stopping.is_set():
                sink_stop.set()
                return "stopped" if now is not None and now.status == "running" else (
                    "reset" if now is None else str(now.status))
            await wait_until_set(sink_stop, 1.0)
