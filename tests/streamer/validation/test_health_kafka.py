"""`streamer doctor`'s consumer-lag check against the real broker."""

from __future__ import annotations

import pytest

from connectors.kafka.client import Admin, Producer
from connectors.kafka.settings import KafkaSettings
from streamer.validation.health import consumer_lag

pytestmark = pytest.mark.integration


async def test_an_existing_topic_is_not_reported_missing(kafka_settings: KafkaSettings, unique: str) -> None:
    """A topic with records and a group that committed nothing: the backlog, not "does not exist"."""
    topic = f"t.lag.{unique}"
    async with Admin(kafka_settings) as admin:
        await admin.ensure_topic(topic, partitions=2)
        try:
            async with Producer(kafka_settings) as producer:
                await producer.send_batch(topic, [(str(i).encode(), b"v", []) for i in range(4)])
            check = await consumer_lag(kafka_settings, topic, f"g.{unique}", max_lag=100)
            assert check.status == "ok", check
            assert "does not exist" not in check.detail
            assert "committed nothing" in check.detail and "(4 record(s) behind)" in check.detail
            missing = await consumer_lag(kafka_settings, f"{topic}.missing", f"g.{unique}", max_lag=100)
            assert missing.status == "warn" and "does not exist yet" in missing.detail
        finally:
            await admin.delete_topics([topic])
