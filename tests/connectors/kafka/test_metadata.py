"""Topic metadata read by a consumer that subscribed to nothing (what `streamer doctor` uses)."""

from __future__ import annotations

import pytest

from connectors.kafka.client import Admin, Consumer
from connectors.kafka.settings import KafkaSettings

pytestmark = pytest.mark.integration


async def test_an_unsubscribed_consumer_sees_the_partitions_of_an_existing_topic(
    kafka_settings: KafkaSettings, unique: str,
) -> None:
    """aiokafka's cached metadata holds no unsubscribed topic; the connector fetches it first."""
    topic = f"t.meta.{unique}"
    async with Admin(kafka_settings) as admin:
        await admin.ensure_topic(topic, partitions=3)
        try:
            async with Consumer(kafka_settings, group_id=f"g.{unique}") as consumer:
                assert await consumer.partitions_for_topic(topic) == frozenset({0, 1, 2})
                assert await consumer.partitions_for_topic(f"{topic}.missing") is None
        finally:
            await admin.delete_topics([topic])
