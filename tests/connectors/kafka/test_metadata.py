"""Topic metadata read by a consumer that subscribed to nothing (what `streamer doctor` uses)."""

from __future__ import annotations

import pytest

from connectors.kafka.client import Admin, Consumer, Producer
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


async def test_clients_told_their_topics_refresh_those_alone(kafka_settings: KafkaSettings, unique: str) -> None:
    """By default an admin client, and a producer that has sent nothing, keep the metadata of every
    topic of the cluster (refreshed every `metadata_max_age_ms`); told their topics, only those."""
    topic = f"t.track.{unique}"
    async with Admin(kafka_settings) as admin:
        await admin.ensure_topic(topic, partitions=2)
        try:
            await admin._admin._client.force_metadata_update()  # what the refresh does every interval
            assert len(admin._admin._client.cluster.topics()) > 1  # the broker holds the tests' topics too
            await admin.track([topic])
            await admin._admin._client.force_metadata_update()
            assert admin._admin._client.cluster.topics() == {topic}
            async with Producer(kafka_settings) as producer:
                await producer.track([topic])
                cluster = producer._producer.client.cluster
                assert cluster.topics() == {topic}
                assert cluster.partitions_for_topic(topic) == {0, 1}
                await producer.send(topic, b"v", key=b"1")  # still sends
        finally:
            await admin.delete_topics([topic])
