"""The capture's producer is idempotent with acks=all whatever its batching settings (issue 18,
docs/cluster.md, Settings): with replication factor 3 and min.insync.replicas 2 an acknowledged
change is on two brokers before the slot moves, and a retried batch is never written twice."""

from __future__ import annotations

import pytest

from connectors.kafka.client import Producer
from connectors.kafka.settings import KafkaSettings
from streamer.capture.component import producer_options
from streamer.sections import SourceSettings


@pytest.mark.parametrize("compression", ["none", "gzip"])
async def test_the_capture_producer_waits_for_every_in_sync_replica_and_is_idempotent(compression: str) -> None:
    source = SourceSettings(dsn="postgresql://u@localhost/db", produce_linger_ms=50,  # type: ignore[arg-type]
                            produce_max_batch_bytes=1_048_576, produce_compression=compression)
    producer = Producer(KafkaSettings(replication_factor=3, min_insync_replicas=2), **producer_options(source))
    try:
        client = producer._producer
        assert client._sender._acks == -1  # aiokafka's "all"
        assert client._txn_manager is not None  # what enable_idempotence creates: producer id and sequence numbers
    finally:
        await producer.__aexit__(None, None, None)  # never started: nothing to flush
