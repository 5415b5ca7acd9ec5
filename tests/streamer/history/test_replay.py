"""Replay offsets computed against real Kafka: only events after the time are re-delivered."""

from __future__ import annotations

import asyncio
import time

import pytest

from connectors.kafka.client import Admin, Consumer, Producer
from connectors.kafka.settings import KafkaSettings
from devstack.stack import Endpoints
from schemas.debezium import decode_key
from streamer.history import replay

pytestmark = pytest.mark.integration


async def produce(settings: KafkaSettings, topic: str, keys: range) -> None:
    async with Producer(settings) as producer:
        await producer.send_batch(topic, [(str(k).encode(), b"{}", []) for k in keys])


async def test_offsets_from_a_time_redeliver_only_later_events_to_the_replay_group(
    services: Endpoints, unique: str
) -> None:
    """Start offsets from T (and stop offsets from T2) cover exactly the events produced between;
    committed for a new group, its consumer reads those and nothing older or newer."""
    settings = KafkaSettings(bootstrap_servers=services.kafka_bootstrap, topic_prefix=f"t{unique}", partitions=3)
    topic = settings.leads_topic
    async with Admin(settings) as admin:
        await admin.ensure_topic(topic)
    await produce(settings, topic, range(0, 30))
    await asyncio.sleep(0.05)
    t1 = int(time.time() * 1000)
    await asyncio.sleep(0.05)
    await produce(settings, topic, range(100, 140))
    await asyncio.sleep(0.05)
    t2 = int(time.time() * 1000)
    await asyncio.sleep(0.05)
    await produce(settings, topic, range(200, 210))
    group = f"replay-{unique}"
    start, stop = await replay.plan_offsets(settings, topic, group, from_ms=t1)
    assert replay.total_events(start, stop) == 50
    start, stop = await replay.plan_offsets(settings, topic, group, from_ms=t1, to_ms=t2)
    assert replay.total_events(start, stop) == 40
    await replay.commit_start(settings, topic, group, start)
    keys: list[int] = []
    async with Consumer(settings, topic, group_id=group) as consumer:
        deadline = asyncio.get_running_loop().time() + 30
        while len(keys) < 40 and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                keys.extend(decode_key(r.key) for r in records if r.offset < stop[r.partition])
    assert sorted(keys) == list(range(100, 140))
    async with replay.assigned(settings, topic, group) as (consumer, tps):
        assert await replay.committed_offsets(consumer, tps) == start


async def test_explicit_offsets_are_clamped_to_the_topic(services: Endpoints, unique: str) -> None:
    """--from-offsets beyond the end replays nothing there; unnamed partitions replay nothing."""
    settings = KafkaSettings(bootstrap_servers=services.kafka_bootstrap, topic_prefix=f"t{unique}", partitions=3)
    async with Admin(settings) as admin:
        await admin.ensure_topic(settings.leads_topic)
    await produce(settings, settings.leads_topic, range(0, 30))
    start, stop = await replay.plan_offsets(settings, settings.leads_topic, f"g-{unique}",
                                            from_offsets={0: 0, 1: 10**9})
    assert start[1] == stop[1] and start[2] == stop[2]
    assert replay.total_events(start, stop) == stop[0]
