"""Issue 18 on a 3-broker KRaft cluster of the test's own (devstack/kafka.py KafkaCluster): under
a steady workload, kill -9 a broker (then start it again), a sink among three and the capture
leader with a standby waiting; afterwards `streamer verify` finds source and destination equal.
While the broker is down the sinks report its partitions in
`streamer_kafka_under_replicated_partitions`, and 0 once it is back in every ISR.

The shorter form of `scripts/kill_loop.py` (3 kills instead of 10). The resume times are printed
(`pytest -s`), not asserted: no timing thresholds in tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.kafka.client import Admin
from connectors.kafka.errors import KafkaRejected
from connectors.kafka.settings import KafkaSettings
from devstack.kafka import KafkaCluster
from devstack.stack import Endpoints
from tests.cluster.kill_loop import KillLoop, on_cluster, own_cluster, table

# A Kafka cluster of three JVMs and the session's databases: never among the pure tests.
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    with own_cluster(tmp_path_factory.mktemp("kafka-cluster")) as value:
        yield value


async def test_topics_get_three_replicas_and_min_insync_two(cluster: KafkaCluster, unique: str) -> None:
    """Created by the service's admin with the settings a 3-broker stack exports."""
    await cluster.ready_for_groups()
    settings = KafkaSettings(bootstrap_servers=cluster.bootstrap, replication_factor=3, min_insync_replicas=2)
    async with Admin(settings) as admin:
        assert await admin.ensure_topic(f"rf-{unique}", partitions=2) is True
        # The new topic reaches every broker's metadata a moment later; until then a broker may
        # describe it with no partitions, or answer describe_configs with an error and no entries.
        for _ in range(100):
            described = await admin._admin.describe_topics([f"rf-{unique}"])
            configs = await admin._admin.describe_configs([_topic_config(f"rf-{unique}")])
            entries = configs[0].to_object()["resources"][0]["config_entries"]
            values = {e["config_names"]: e["config_value"] for e in entries}
            if len(described[0]["partitions"]) == 2 and "min.insync.replicas" in values:
                break
            await asyncio.sleep(0.1)
        await admin.delete_topics([f"rf-{unique}"])
    assert [len(p["replicas"]) for p in described[0]["partitions"]] == [3, 3]
    assert values.get("min.insync.replicas") == "2"


async def test_more_replicas_than_brokers_is_refused_naming_the_setting(cluster: KafkaCluster, unique: str) -> None:
    settings = KafkaSettings(bootstrap_servers=cluster.bootstrap, replication_factor=4)
    async with Admin(settings) as admin:
        with pytest.raises(KafkaRejected, match=r"STREAMER_KAFKA__REPLICATION_FACTOR is 4 but the cluster has 3 "
                                                r"live broker\(s\)"):
            await admin.ensure_topic(f"rf4-{unique}")


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_kills_under_load_leave_source_equal_to_destination(
    cluster: KafkaCluster, services: Endpoints, unique: str, tmp_path: Path
) -> None:
    await cluster.ready_for_groups()
    on_three = on_cluster(services, cluster)
    loop = KillLoop(on_three, cluster, tmp_path, f"k{unique}", rate=25, progress=print)
    outcome = await loop.run(kills=3)
    print("\n" + table(outcome.rows))
    assert [r.kind for r in outcome.rows] == ["broker", "sink", "capture"]
    # While the broker was down the sinks' gauge counted its partitions (then 0: the loop waited).
    under = outcome.rows[0].under_replicated
    assert under is not None and under > 0
    assert outcome.differences == 0
    assert outcome.verify_exit == 0, outcome.verify_output


def _topic_config(name: str) -> object:
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    return ConfigResource(ConfigResourceType.TOPIC, name, {"min.insync.replicas": None})
