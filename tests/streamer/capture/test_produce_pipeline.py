"""The capture's produce pipeline on a real broker: buffers queued while a send waits for its
acknowledgements leave together as the next send, in order, and each buffer's callbacks run
only after that send was acknowledged, in the order the buffers were submitted."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from connectors.kafka.client import Admin, Producer
from connectors.kafka.settings import KafkaSettings
from schemas.event import ChangeEvent, SourceInfo, now_ms
from streamer.capture.produce import EventBuffer, ProducePipeline
from streamer.metrics import Metrics
from tests.streamer.capture.conftest import read_topic

pytestmark = pytest.mark.integration


class GatedProducer:
    """The real producer, with each send's size noted and the first send held until released."""

    def __init__(self, producer: Producer) -> None:
        self.producer, self.sizes, self.release = producer, [], asyncio.Event()
        self.first_started = asyncio.Event()

    async def send_batch(self, topic: str, records: Sequence[Any]) -> list[Any]:
        self.sizes.append(len(records))
        if len(self.sizes) == 1:
            self.first_started.set()
            await self.release.wait()
        return await self.producer.send_batch(topic, records)


def event(lead: int) -> ChangeEvent:
    source = SourceInfo(connector="postgresql", db="tabuladormax", schema="public", table="leads", ts_ms=now_ms())
    return ChangeEvent(op="c", after={"id": lead, "nome": f"lead {lead}"}, source=source)  # type: ignore[arg-type]


async def test_buffers_queued_behind_a_send_leave_together_in_order(kafka_settings: KafkaSettings,
                                                                     unique: str) -> None:
    topic = f"t.pipe.{unique}.public.leads"
    acked: list[int] = []
    async with Admin(kafka_settings) as admin:
        await admin.ensure_topic(topic)
        try:
            async with Producer(kafka_settings, topics=(topic,)) as real:
                gated = GatedProducer(real)
                buffers = []
                for n in range(3):
                    buffer = EventBuffer(gated, topic, Metrics(), limit=100)  # type: ignore[arg-type]
                    for lead in range(10 * n + 1, 10 * n + 11):
                        buffer.add(event(lead))
                    buffer.when_acked(lambda n=n: acked.append(n))  # type: ignore[misc]
                    buffers.append(buffer)
                async with ProducePipeline(depth=2) as pipe:
                    await pipe.submit(buffers[0], waiting=lambda: None, every=1.0)
                    await gated.first_started.wait()
                    for buffer in buffers[1:]:
                        await pipe.submit(buffer, waiting=lambda: None, every=1.0)
                    assert acked == []  # nothing is acknowledged before the first send is
                    gated.release.set()
                    await pipe.drain(waiting=lambda: None, every=1.0)
            assert gated.sizes == [10, 20]  # the two that waited went as one send
            assert acked == [0, 1, 2]
            events = await read_topic(kafka_settings, topic, until=lambda e: len(e) >= 30)
            by_partition: dict[int, list[int]] = {}
            for e in events:
                by_partition.setdefault(e["_partition"], []).append(e["after"]["id"])
            assert sorted(lead for leads in by_partition.values() for lead in leads) == list(range(1, 31))
            assert all(leads == sorted(leads) for leads in by_partition.values())  # submission order kept
        finally:
            await admin.delete_topics([topic])


async def refreshed_topics(client: Any, want: set[str]) -> set[str]:
    """The topics of the client's next metadata refresh that holds every topic wanted (a topic just
    created reaches the broker's metadata a moment later)."""
    for _ in range(100):
        await client.force_metadata_update()
        if want <= (topics := set(client.cluster.topics())):
            return topics
        await asyncio.sleep(0.1)
    raise AssertionError(f"{want} never in the metadata")


async def test_a_producer_and_an_admin_refresh_only_their_topics(kafka_settings: KafkaSettings, unique: str) -> None:
    """Their metadata refreshes name the topics given (or ensured), not the whole cluster's."""
    topic, other, third = f"t.meta.{unique}", f"t.meta.{unique}.other", f"t.meta.{unique}.third"
    async with Admin(kafka_settings) as maker:
        await maker.ensure_topic(third)
        try:
            async with Admin(kafka_settings) as admin:
                await admin.ensure_topic(other)
                await admin.ensure_topic(topic)
                async with Producer(kafka_settings, topics=(topic,)) as producer:
                    assert await refreshed_topics(producer._producer.client, {topic}) == {topic}
                assert await refreshed_topics(admin._admin._client, {topic, other}) == {topic, other}
        finally:
            await maker.delete_topics([topic, other, third])
