"""Replication settings and the facts read from a cluster's metadata (docs/cluster.md): pure."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from connectors.kafka.client import under_replicated_counts
from connectors.kafka.settings import KafkaSettings, replication_problem


def test_more_replicas_than_live_brokers_names_the_setting_and_the_count() -> None:
    assert replication_problem(3, 3) is None
    assert replication_problem(1, 3) is None
    problem = replication_problem(3, 2)
    assert problem is not None
    assert problem.startswith("STREAMER_KAFKA__REPLICATION_FACTOR is 3 but the cluster has 2 live broker(s)")
    assert "lower it to at most 2" in problem


def test_min_insync_replicas_goes_into_the_topics_config() -> None:
    assert KafkaSettings().topic_configs() == {}
    settings = KafkaSettings(replication_factor=3, min_insync_replicas=2)
    assert settings.topic_configs() == {"min.insync.replicas": "2"}


def test_min_insync_above_the_replication_factor_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"min_insync_replicas \(3\) is above replication_factor \(2\)"):
        KafkaSettings(replication_factor=2, min_insync_replicas=3)


def test_under_replicated_counts_partitions_whose_isr_is_short() -> None:
    topics = [
        {"topic": "leads", "error_code": 0, "partitions": [
            {"partition": 0, "replicas": [1, 2, 3], "isr": [1, 2]},
            {"partition": 1, "replicas": [2, 3, 1], "isr": [2, 3, 1]},
            {"partition": 2, "replicas": [3, 1, 2], "isr": [3]}]},
        {"topic": "healthy", "error_code": 0, "partitions": [{"partition": 0, "replicas": [1], "isr": [1]}]},
        {"topic": "missing", "error_code": 3, "partitions": []},
    ]
    assert under_replicated_counts(topics) == {"leads": 2, "healthy": 0}
