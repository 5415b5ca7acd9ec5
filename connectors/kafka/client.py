"""Kafka clients configured from `KafkaSettings`: an idempotent producer, a committing
consumer and a small admin, each an async context manager owning its connection."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code
from aiokafka.structs import RecordMetadata, TopicPartition

from connectors.kafka.errors import translate_kafka_errors
from connectors.kafka.settings import KafkaSettings

Headers = Sequence[tuple[str, bytes]]


def common_options(settings: KafkaSettings) -> dict[str, Any]:
    """Connection options shared by every client (security included, never logged)."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.client_id,
        "security_protocol": settings.security_protocol,
        "request_timeout_ms": settings.request_timeout_ms,
    }
    if settings.sasl_mechanism:
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        if settings.sasl_password is not None:
            options["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    return options


class Producer:
    """Idempotent, acks=all: `await send()` returns once every in-sync replica has the record,
    which is when a capture may advance its source position (docs/design.md, Delivery)."""

    def __init__(self, settings: KafkaSettings, **overrides: Any) -> None:
        options = common_options(settings) | {
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 5,
            "compression_type": None,
        }
        self._producer = AIOKafkaProducer(**(options | overrides))

    async def __aenter__(self) -> Self:
        try:
            with translate_kafka_errors("starting the producer"):
                await self._producer.start()
        except BaseException:
            await self._producer.stop()  # a failed start still holds sockets and tasks
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def send(
        self, topic: str, value: bytes | None, *, key: bytes | None = None, headers: Headers = ()
    ) -> RecordMetadata:
        with translate_kafka_errors(f"producing to {topic}"):
            return await self._producer.send_and_wait(topic, value, key=key, headers=list(headers))

    async def send_batch(
        self, topic: str, records: Sequence[tuple[bytes | None, bytes | None, Headers]]
    ) -> list[RecordMetadata]:
        """Send (key, value, headers) records; return when all are acknowledged, with each
        record's metadata, in the order given.

        The records are put into one Kafka batch per partition (more when one fills up), each
        submitted whole: per record, only the partitioner and the batch's append run, where
        `send()` per record costs a coroutine, two futures and the metadata lookups each (≈ 15%
        of the capture's CPU; README, Performance). Partitions are chosen as `send()` chooses them
        (the producer's partitioner, over the same partition list), so a lead's events land on
        one partition whichever path produced them, and in the order given."""
        with translate_kafka_errors(f"producing to {topic}"):
            producer = self._producer
            await producer.client._wait_on_metadata(topic)
            metadata = producer.client.cluster
            partitions = list(metadata.partitions_for_topic(topic))
            available = list(metadata.available_partitions_for_topic(topic))
            choose = producer._partitioner
            submitted: list[asyncio.Future[RecordMetadata] | None] = []  # by batch number, once sent
            open_batches: dict[int, tuple[int, Any]] = {}  # partition -> (batch number, batch)
            placed: list[tuple[int, int]] = []  # per record: its batch number, its place in the batch

            def start(partition: int) -> tuple[int, Any]:
                open_batches[partition] = entry = (len(submitted), producer.create_batch())
                submitted.append(None)
                return entry

            for key, value, headers in records:
                partition = choose(key, partitions, available)
                number, batch = open_batches.get(partition) or start(partition)
                appended = batch.append(key=key, value=value, timestamp=None, headers=list(headers))
                if appended is None:  # full: send it, start the partition's next batch
                    submitted[number] = await self._submit(batch, topic, partition)
                    number, batch = start(partition)
                    appended = batch.append(key=key, value=value, timestamp=None, headers=list(headers))
                    if appended is None:
                        raise ValueError(f"a record of {len(value or b'')} bytes does not fit in a Kafka batch")
                placed.append((number, appended.offset))
            for partition, (number, batch) in open_batches.items():
                submitted[number] = await self._submit(batch, topic, partition)
            sent = await asyncio.gather(*[future for future in submitted if future is not None])
            return [sent[number]._replace(offset=sent[number].offset + relative) for number, relative in placed]

    async def _submit(self, batch: Any, topic: str, partition: int) -> asyncio.Future[RecordMetadata]:
        batch.close()  # nothing else may join it (aiokafka lets send() add to an open batch)
        future: asyncio.Future[RecordMetadata] = await self._producer.send_batch(batch, topic, partition=partition)
        return future


class Consumer:
    """A consumer-group member with auto-commit off: offsets move only through `commit()`."""

    def __init__(self, settings: KafkaSettings, *topics: str, group_id: str,
                 listener: ConsumerRebalanceListener | None = None, **overrides: Any):
        options = common_options(settings) | {
            "group_id": group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "isolation_level": "read_committed",
        }
        if listener is None:
            self._consumer = AIOKafkaConsumer(*topics, **(options | overrides))
        else:
            self._consumer = AIOKafkaConsumer(**(options | overrides))
            self._consumer.subscribe(list(topics), listener=listener)

    @property
    def raw(self) -> AIOKafkaConsumer:
        return self._consumer

    async def __aenter__(self) -> Self:
        try:
            with translate_kafka_errors("starting the consumer"):
                await self._consumer.start()
        except BaseException:
            await self._consumer.stop()  # a failed start still holds sockets and tasks
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._consumer.stop()

    async def getmany(self, timeout_ms: int, max_records: int | None = None) -> dict[TopicPartition, list[Any]]:
        with translate_kafka_errors("consuming"):
            result: dict[TopicPartition, list[Any]] = await self._consumer.getmany(
                timeout_ms=timeout_ms, max_records=max_records
            )
            return result

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit `offsets` (the next offset to read, per partition)."""
        with translate_kafka_errors("committing offsets"):
            await self._consumer.commit(offsets)

    async def partitions_for_topic(self, topic: str) -> frozenset[int] | None:
        """The topic's partitions from metadata fetched now; None when the broker has no such topic.

        aiokafka's own `partitions_for_topic` answers from the metadata the consumer already holds,
        which covers only the topics it subscribed to: for any other topic it returns None, as if
        the topic did not exist (what `streamer doctor` reported on a healthy stack)."""
        with translate_kafka_errors(f"reading the metadata of {topic}"):
            cluster = await self._consumer._client.fetch_all_metadata()
            partitions = cluster.partitions_for_topic(topic)
        return None if partitions is None else frozenset(partitions)

    async def committed(self, partition: TopicPartition) -> int | None:
        with translate_kafka_errors("reading committed offsets"):
            value: int | None = await self._consumer.committed(partition)
            return value


class Admin:
    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._admin = AIOKafkaAdminClient(**common_options(settings))

    async def __aenter__(self) -> Self:
        try:
            with translate_kafka_errors("connecting the admin client"):
                await self._admin.start()
        except BaseException:
            await self._admin.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._admin.close()

    async def ensure_topic(self, name: str, *, partitions: int | None = None) -> bool:
        """Create the topic when missing; True if this call created it."""
        topic = NewTopic(
            name,
            num_partitions=partitions or self._settings.partitions,
            replication_factor=self._settings.replication_factor,
        )
        with translate_kafka_errors(f"creating topic {name}"):
            response = await self._admin.create_topics([topic])
            # The broker answers per topic with an error code rather than failing the request.
            for _topic, code, *rest in response.topic_errors:
                if code == TopicAlreadyExistsError.errno:
                    return False
                if code:
                    raise for_code(code)(f"{rest[0] if rest else ''}")
        return True

    async def describe_cluster(self) -> dict[str, Any]:
        with translate_kafka_errors("describing the cluster"):
            result: dict[str, Any] = await self._admin.describe_cluster()
            return result

    async def delete_topics(self, names: Sequence[str]) -> None:
        with translate_kafka_errors("deleting topics"):
            await self._admin.delete_topics(list(names))
