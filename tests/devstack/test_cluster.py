"""`python -m devstack up --brokers 3`: the cluster's layout, config and exports, without
starting it (tests/cluster/ starts one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.kafka import KafkaCluster, cluster_replication
from devstack.settings import DevStackSettings
from devstack.stack import Endpoints, Stack, env_exports
from streamer.errors import PrerequisiteError


def test_replication_is_up_to_three_copies_and_all_but_one_in_sync() -> None:
    assert [cluster_replication(n) for n in (1, 2, 3, 5)] == [(1, 1), (2, 1), (3, 2), (3, 2)]


def test_nodes_get_their_own_ports_dirs_and_one_static_quorum(tmp_path: Path) -> None:
    cluster = KafkaCluster.of(tmp_path, 3, port=29092, controller_port=29093, step=100, heap_mb=256)
    assert [n.name for n in cluster.nodes] == ["kafka", "kafka-2", "kafka-3"]
    assert cluster.bootstrap == "127.0.0.1:29092,127.0.0.1:29192,127.0.0.1:29292"
    assert {n.libs for n in cluster.nodes} == {tmp_path / "kafka" / "libs"}
    props = cluster.nodes[1].properties()
    assert "node.id=2\n" in props
    assert "controller.quorum.voters=1@127.0.0.1:29093,2@127.0.0.1:29193,3@127.0.0.1:29293\n" in props
    assert "listeners=PLAINTEXT://127.0.0.1:29192,CONTROLLER://127.0.0.1:29193\n" in props
    for line in ("offsets.topic.replication.factor=3", "min.insync.replicas=2", "default.replication.factor=3",
                 "transaction.state.log.min.isr=2"):
        assert line + "\n" in props


def test_one_node_keeps_its_dynamic_quorum_and_single_copies(tmp_path: Path) -> None:
    (node,) = KafkaCluster.of(tmp_path, 1, port=19092, controller_port=19093, step=100, heap_mb=512).nodes
    props = node.properties()
    assert "controller.quorum.bootstrap.servers=127.0.0.1:19093\n" in props
    assert "offsets.topic.replication.factor=1\n" in props
    assert "min.insync.replicas=1\n" in props


def test_env_of_a_cluster_exports_every_broker_and_the_replication() -> None:
    endpoints = Endpoints("postgresql://s", "postgresql://d", "127.0.0.1:29092,127.0.0.1:29192,127.0.0.1:29292",
                          "http://127.0.0.1:1/rest/v1", "j", "a", "k", "")
    exports = env_exports(endpoints, 18080)
    assert exports["STREAMER_KAFKA__BOOTSTRAP_SERVERS"] == "127.0.0.1:29092,127.0.0.1:29192,127.0.0.1:29292"
    assert (exports["STREAMER_KAFKA__REPLICATION_FACTOR"], exports["STREAMER_KAFKA__MIN_INSYNC_REPLICAS"]) == ("3", "2")
    one = env_exports(Endpoints("s", "d", "127.0.0.1:19092", "u", "j", "a", "k", ""), 18080)
    assert "STREAMER_KAFKA__REPLICATION_FACTOR" not in one


def test_the_broker_count_is_fixed_once_recorded(tmp_path: Path) -> None:
    stack = Stack(DevStackSettings(dir=tmp_path, brokers=3))
    assert stack.brokers == 3
    stack._record_brokers(3)
    assert Stack(DevStackSettings(dir=tmp_path)).brokers == 3  # the record wins over the setting
    with pytest.raises(PrerequisiteError, match=r"runs Kafka with 3 broker\(s\), not 1: use another STREAMER_DEV__DIR"):
        Stack(DevStackSettings(dir=tmp_path))._record_brokers(1)


def test_a_stack_formatted_before_clusters_is_one_node(tmp_path: Path) -> None:
    (tmp_path / "kafka" / "data").mkdir(parents=True)
    (tmp_path / "kafka" / "data" / "meta.properties").write_text("node.id=1\n")
    assert Stack(DevStackSettings(dir=tmp_path, brokers=3)).brokers == 1
