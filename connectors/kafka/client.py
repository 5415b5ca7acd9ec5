"""Kafka clients configured from `KafkaSettings`: an idempotent producer, a committing
consumer and a small admin, each an async context manager owning its connection."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import InvalidReplicationFactorError, TopicAlreadyExistsError, for_code
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import RecordMetadata, TopicPartition

from connectors.kafka.errors import KafkaRejected, translate_kafka_errors
from connectors.kafka.settings import KafkaSettings, replication_problem
from schemas.debezium import partition_key

Headers = Sequence[tuple[str, bytes]]


def common_options(settings: KafkaSettings) -> dict[str, Any]:
    """Connection options shared by every client (security included, never logged)."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.client_id,
        "security_protocol": settings.security_protocol,
        "request_timeout_ms": settings.request_timeout_ms,
        "metadata_max_age_ms": settings.metadata_max_age_ms,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = tls_context(settings)
    if settings.sasl_mechanism:
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        if settings.sasl_password is not None:
            options["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    return options


def tls_context(settings: KafkaSettings) -> ssl.SSLContext:
    """The TLS context for SSL and SASL_SSL: the configured CA (else the system's), the client
    certificate when one is set, host names checked. An unreadable file is a KafkaRejected naming
    the setting (not retried: a person has to fix the file or its mount)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    try:
        if settings.ssl_cafile is not None:
            context.load_verify_locations(cafile=settings.ssl_cafile)
    except (OSError, ssl.SSLError) as exc:
        raise KafkaRejected(f"STREAMER_KAFKA__SSL_CAFILE: cannot load {settings.ssl_cafile} ({_why(exc)})") from None
    try:
        if settings.ssl_certfile is not None:
            context.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise KafkaRejected(f"STREAMER_KAFKA__SSL_CERTFILE / __SSL_KEYFILE: cannot load {settings.ssl_certfile} "
                            f"with {settings.ssl_keyfile} ({_why(exc)})") from None
    return context


def _why(exc: OSError) -> str:
    """What went wrong loading a TLS file, without the file's content (a key is a secret)."""
    if isinstance(exc, ssl.SSLError):
        return f"not a usable PEM file: {exc.reason or 'unreadable'}"
    return exc.strerror or type(exc).__name__


def scoped_metadata(client: Any, topics: Sequence[str]) -> None:
    """Refresh only `topics`' metadata on `client` (an aiokafka client), every
    `metadata_max_age_ms`, instead of the whole cluster's.

    An aiokafka client that has not yet produced to or subscribed to a topic asks the broker for
    the metadata of every topic at each refresh: on a cluster of 1,350 topics that answer takes
    ≈ 60 ms of CPU to decode, in one step of the event loop, every 5 s per client (the sink's
    admin and dead-letter producer: a stall of the loop every 2.5 s, which the capture and the
    sink share; docs/latency.md). The topics named must exist already: a metadata request for
    a missing topic may have the broker create it with its own defaults."""
    if topics:
        client.set_topics(list(topics))


_DEFAULT_PARTITIONER = DefaultPartitioner()


def lead_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """Kafka's default partitioner (murmur2 of the key) applied to the lead id rather than to the
    debezium format's JSON key (schemas/debezium.py `partition_key`): a lead keeps its partition
    whichever event format wrote it."""
    return int(_DEFAULT_PARTITIONER(partition_key(key), all_partitions, available))


class Producer:
    """Idempotent, acks=all: `await send()` returns once every in-sync replica has the record,
    which is when a capture may advance its source position (docs/design.md, Delivery).
    Records are partitioned by lead id (`lead_partitioner`)."""

    def __init__(self, settings: KafkaSettings, *, topics: Sequence[str] = (), **overrides: Any) -> None:
        """`topics`: ones that exist already and this producer will write (see `scoped_metadata`)."""
        options = common_options(settings) | {
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 5,
            "compression_type": None,
            "partitioner": lead_partitioner,
        }
        self._producer = AIOKafkaProducer(**(options | overrides))
        self._topics = tuple(topics)

    async def __aenter__(self) -> Self:
        try:
            with translate_kafka_errors("starting the producer"):
                await self._producer.start()
        except BaseException:
            await self._producer.stop()  # a failed start still holds sockets and tasks
            raise
        scoped_metadata(self._producer.client, self._topics)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def _track(self, topic: str) -> None:
        """`scoped_metadata` for a topic written to and not named at construction: added once to
        the topics the client refreshes. The client's bootstrap reads every topic's metadata, so a
        topic that existed then is never added by aiokafka itself (≈ 15% of the capture's CPU on a
        broker of 1,400 topics, README, Performance)."""
        client = self._producer.client
        if topic not in client._topics:
            await client.add_topic(topic)

    async def send(
        self, topic: str, value: bytes | None, *, key: bytes | None = None, headers: Headers = ()
    ) -> RecordMetadata:
        with translate_kafka_errors(f"producing to {topic}"):
            await self._track(topic)
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
            await self._track(topic)
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


def under_replicated_counts(topics: Sequence[dict[str, Any]]) -> dict[str, int]:
    """From a Metadata response's topics: per topic, how many partitions have an ISR smaller than
    their replica list (topics the broker answered with an error, e.g. unknown, are left out).

    >>> under_replicated_counts([{"topic": "t", "error_code": 0, "partitions": [
    ...     {"partition": 0, "replicas": [1, 2, 3], "isr": [1, 2]},
    ...     {"partition": 1, "replicas": [1, 2, 3], "isr": [3, 1, 2]}]}])
    {'t': 1}
    """
    return {t["topic"]: sum(1 for p in t["partitions"] if len(p["isr"]) < len(p["replicas"]))
            for t in topics if not t.get("error_code")}


class Admin:
    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._admin = AIOKafkaAdminClient(**common_options(settings))
        self._topics: tuple[str, ...] = ()  # ensured: what its metadata refreshes ask for

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
        """Create the topic when missing (with `replication_factor` copies and
        `min_insync_replicas`); True if this call created it. From then on, this admin's
        metadata refreshes ask for the topics it ensured only (`scoped_metadata`).

        A topic that exists is left as it is, whatever its replication: a broker down (fewer live
        brokers than the replication factor) must not stop a restarted component. A missing topic
        needing more replicas than live brokers is `KafkaRejected`, naming the setting."""
        rf = self._settings.replication_factor
        topic = NewTopic(name, num_partitions=partitions or self._settings.partitions, replication_factor=rf,
                         topic_configs=self._settings.topic_configs())
        with translate_kafka_errors(f"creating topic {name}"):
            response = await self._admin.create_topics([topic])
            # The broker answers per topic with an error code rather than failing the request.
            for _topic, code, *rest in response.topic_errors:
                if code == TopicAlreadyExistsError.errno:
                    self._ensured(name)
                    return False
                if code == InvalidReplicationFactorError.errno:
                    brokers = len((await self._admin.describe_cluster()).get("brokers", []))
                    raise KafkaRejected(f"creating topic {name}: "
                                        f"{replication_problem(rf, brokers) or (rest[0] if rest else '')}")
                if code:
                    raise for_code(code)(f"{rest[0] if rest else ''}")
        self._ensured(name)
        return True

    def _ensured(self, name: str) -> None:
        self._topics = (*self._topics, name) if name not in self._topics else self._topics
        scoped_metadata(self._admin._client, self._topics)

    async def live_brokers(self) -> int:
        """Brokers the cluster's metadata lists now (a stopped or fenced broker is not listed)."""
        return len((await self.describe_cluster()).get("brokers", []))

    async def check_replication(self) -> None:
        """`KafkaRejected` naming STREAMER_KAFKA__REPLICATION_FACTOR when it exceeds the live brokers."""
        problem = replication_problem(self._settings.replication_factor, await self.live_brokers())
        if problem:
            raise KafkaRejected(problem)

    async def under_replicated(self, topics: Sequence[str] | None = None) -> dict[str, int]:
        """Per topic, the partitions whose in-sync replicas are fewer than their replicas."""
        with translate_kafka_errors("describing topics"):
            described = await self._admin.describe_topics(list(topics) if topics is not None else None)
        return under_replicated_counts(described)

    async def describe_cluster(self) -> dict[str, Any]:
        with translate_kafka_errors("describing the cluster"):
            result: dict[str, Any] = await self._admin.describe_cluster()
            return result

    async def delete_topics(self, names: Sequence[str]) -> None:
        with translate_kafka_errors("deleting topics"):
            await self._admin.delete_topics(list(names))
