"""Records are partitioned by lead id whatever the event format keyed them with."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from connectors.kafka.client import lead_partitioner


def test_a_lead_gets_the_partition_its_legacy_key_had() -> None:
    """`{"id": 7}` and its schema-enveloped form land where the old release's `7` landed, so a
    topic switching formats keeps each lead's events on one partition, in order."""
    default, partitions = DefaultPartitioner(), list(range(6))
    for lead in (1, 7, 42, 10**12 + 3, 2**63 - 1):
        legacy = default(str(lead).encode(), partitions, partitions)
        enveloped = b'{"schema":{"type":"struct"},"payload":{"id":%d}}' % lead
        assert lead_partitioner(b'{"id":%d}' % lead, partitions, partitions) == legacy
        assert lead_partitioner(enveloped, partitions, partitions) == legacy
        assert lead_partitioner(str(lead).encode(), partitions, partitions) == legacy
