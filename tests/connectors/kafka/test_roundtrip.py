"""A round trip on the real broker: idempotent producer, committed consumer group."""

from __future__ import annotations

import pytest
from aiokafka.structs import TopicPartition

from connectors.kafka.client import Admin, Consumer, Producer
from connectors.kafka.errors import KafkaUnavailable
from connectors.kafka.settings import KafkaSettings

pytestmark = pytest.mark.integration


async def drain(consumer: Consumer, want: int, rounds: int = 40) -> list[object]:
    records: list[object] = []
    for _ in range(rounds):
        batch = await consumer.getmany(timeout_ms=500)
        records.extend(r for rs in batch.values() for r in rs)
        if len(records) >= want:
            break
    return records


async def test_keyed_records_round_trip_in_order_per_key(kafka_settings: KafkaSettings, unique: str) -> None:
    """Records sent with acks=all come back with their keys, values, headers, in order per key."""
    topic = f"t.roundtrip.{unique}"
    async with Admin(kafka_settings) as admin:
        assert await admin.ensure_topic(topic) is True
        assert await admin.ensure_topic(topic) is False
    records = [(f"{i % 7}".encode(), f"v{i}".encode(), [("sync_source", b"tabuladormax")]) for i in range(100)]
    async with Producer(kafka_settings) as producer:
        acks = await producer.send_batch(topic, records)
    assert len(acks) == 100 and all(a.offset >= 0 for a in acks)

    async with Consumer(kafka_settings, topic, group_id=f"g.{unique}") as consumer:
        got = await drain(consumer, 100)
    assert len(got) == 100
    by_key: dict[bytes, list[int]] = {}
    for record in got:
        by_key.setdefault(record.key, []).append(int(record.value[1:]))  # type: ignore[attr-defined]
        assert record.headers == (("sync_source", b"tabuladormax"),)  # type: ignore[attr-defined]
    assert all(values == sorted(values) for values in by_key.values())
    assert sorted(v for vs in by_key.values() for v in vs) == list(range(100))


async def test_a_batch_spanning_several_kafka_batches_reports_where_each_record_went(
        kafka_settings: KafkaSettings, unique: str) -> None:
    """send_batch fills one Kafka batch per partition and starts another when one is full: every
    record's metadata is where the consumer then finds it, a key's records stay on one partition
    in order, and the partitions are those send() picks (the producer's partitioner)."""
    topic = f"t.batches.{unique}"
    async with Admin(kafka_settings) as admin:
        await admin.ensure_topic(topic, partitions=3)
    # 16 KiB batches and 3 KB values: each partition's records fill several batches.
    records = [(f"lead-{i % 11}".encode(), f"{i:06d}".encode() + b"x" * 3000, []) for i in range(120)]
    async with Producer(kafka_settings, max_batch_size=16_384) as producer:
        acks = await producer.send_batch(topic, records)
        single = await producer.send(topic, b"alone", key=b"lead-3")
    assert len(acks) == len(records)
    async with Consumer(kafka_settings, topic, group_id=f"g.{unique}") as consumer:
        got = await drain(consumer, len(records) + 1)
    where = {(r.partition, r.offset): r for r in got}  # type: ignore[attr-defined]
    for (key, value, _), ack in zip(records, acks, strict=True):
        found = where[(ack.partition, ack.offset)]
        assert (found.key, found.value) == (key, value)
    assert single.partition == next(a.partition for (k, _, _), a in zip(records, acks, strict=True) if k == b"lead-3")
    for key in {k for k, _, _ in records}:
        offsets = [(a.partition, a.offset) for (k, _, _), a in zip(records, acks, strict=True) if k == key]
        assert len({p for p, _ in offsets}) == 1 and offsets == sorted(offsets)


async def test_a_group_resumes_from_its_committed_offsets(kafka_settings: KafkaSettings, unique: str) -> None:
    """After committing half, a new member of the group reads only the other half."""
    topic, group = f"t.commit.{unique}", f"g.{unique}"
    async with Admin(kafka_settings) as admin:
        await admin.ensure_topic(topic, partitions=1)
    async with Producer(kafka_settings) as producer:
        await producer.send_batch(topic, [(b"k", str(i).encode(), []) for i in range(10)])

    tp = TopicPartition(topic, 0)
    async with Consumer(kafka_settings, topic, group_id=group) as consumer:
        first = await drain(consumer, 10)
        assert len(first) == 10
        await consumer.commit({tp: first[4].offset + 1})  # type: ignore[attr-defined]
        assert await consumer.committed(tp) == first[4].offset + 1  # type: ignore[attr-defined]

    async with Consumer(kafka_settings, topic, group_id=group) as consumer:
        rest = await drain(consumer, 5)
    assert [int(r.value) for r in rest] == [5, 6, 7, 8, 9]  # type: ignore[attr-defined]


async def test_an_unreachable_broker_is_a_retriable_kafka_unavailable() -> None:
    """aiokafka's connection failure surfaces as our retriable KafkaUnavailable."""
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1", request_timeout_ms=1000)
    with pytest.raises(KafkaUnavailable) as caught:
        async with Producer(settings):
            pass
    assert caught.value.retriable
    assert "starting the producer" in str(caught.value)


async def test_a_producer_refreshes_the_metadata_of_the_topics_it_writes_only(
        kafka_settings: KafkaSettings, unique: str) -> None:
    """A topic that existed when the producer started is tracked once written to, so the periodic
    metadata refresh reads it alone, not every topic in the cluster (what it did before: CPU
    that grew with the broker's topic count)."""
    topics = [f"t.tracked.{unique}", f"t.other.{unique}"]
    async with Admin(kafka_settings) as admin:
        for topic in topics:
            await admin.ensure_topic(topic, partitions=1)
    async with Producer(kafka_settings) as producer:
        client = producer._producer.client
        await client.force_metadata_update()
        assert set(topics) <= client.cluster.topics()  # tracking none, a refresh reads every topic
        await producer.send_batch(topics[0], [(b"k", b"v", [])])
        await client.force_metadata_update()
        assert client.cluster.topics() == {topics[0]}
        await producer.send(topics[1], b"v", key=b"k")
        await client.force_metadata_update()
        assert client.cluster.topics() == set(topics)
