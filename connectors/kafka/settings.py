"""What the Kafka connector is told: the cluster, how to authenticate, how topics are named.

The service composes this as its `kafka` section (`STREAMER_KAFKA__*`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from schemas.debezium import Column, EncoderOptions, EventFormat


class KafkaSettings(BaseModel):
    """The Kafka cluster between the stages."""

    # hide_input_in_errors: a ValidationError's text would otherwise quote the value (a password).
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    bootstrap_servers: str = "127.0.0.1:19092"
    client_id: str = "lead-sync-streamer"
    topic_prefix: str = "tabuladormax"
    reverse_topic_prefix: str = "gestao_scouter"
    partitions: int = Field(default=6, ge=1)
    # Copies of each partition the service's topics are created with, and how many of them must
    # have a write before the broker acknowledges it (acks=all); None leaves the broker's
    # min.insync.replicas. On 3 brokers: 3 and 2 (docs/cluster.md).
    replication_factor: int = Field(default=1, ge=1)
    min_insync_replicas: int | None = Field(default=None, ge=1)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    request_timeout_ms: int = Field(default=30_000, ge=1000)
    # How often every client re-reads the cluster's metadata. aiokafka's consumer does not ask
    # again when a partition's leader stops answering: it keeps fetching from the dead broker
    # until this age passes (its own default is 5 minutes), so a broker loss stalls a sink for up
    # to this long (docs/cluster.md).
    metadata_max_age_ms: int = Field(default=5_000, ge=1000)
    # TLS (security_protocol SSL or SASL_SSL): the CA that signed the brokers' certificates (a
    # Strimzi cluster's own CA; none: the system's CAs, as managed services need), and a client
    # certificate and key for mutual TLS (Strimzi's `authentication: type: tls` users). The broker's
    # host name is always checked against its certificate.
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    # How events are written (docs/event-format.md); readers take both formats, with or without
    # the schema envelope, so changing these never strands what a topic already holds.
    event_format: EventFormat = "debezium"
    event_schemas: bool = False

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {server.strip()!r}")
        return value

    @model_validator(mode="after")
    def _insync_within_replicas(self) -> KafkaSettings:
        if self.min_insync_replicas is not None and self.min_insync_replicas > self.replication_factor:
            raise ValueError(f"min_insync_replicas ({self.min_insync_replicas}) is above replication_factor "
                             f"({self.replication_factor}): no write could ever be acknowledged")
        return self

    def topic_configs(self) -> dict[str, str]:
        """Per-topic settings the service's topics are created with."""
        if self.min_insync_replicas is None:
            return {}
        return {"min.insync.replicas": str(self.min_insync_replicas)}

    @model_validator(mode="after")
    def _tls_files(self) -> KafkaSettings:
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together (a client certificate and its key)")
        if (self.ssl_cafile or self.ssl_certfile) and not self.security_protocol.endswith("SSL"):
            raise ValueError("ssl_* files need security_protocol SSL or SASL_SSL")
        return self

    def topic_for(self, prefix: str, table: str, schema_name: str = "public") -> str:
        """Debezium's topic naming: `<prefix>.<schema>.<table>`."""
        return f"{prefix}.{schema_name}.{table}"

    def encoder_options(self, prefix: str, columns: Sequence[Column] = (), topic: str | None = None) -> EncoderOptions:
        """How a producer writing `topic` under `prefix` (Debezium's `source.name`) encodes events
        (`topic` names the Connect schemas; `<prefix>.<schema>.<table>` when None)."""
        return EncoderOptions(name=prefix, format=self.event_format, schemas=self.event_schemas,
                              columns=tuple(columns), topic=topic)

    @property
    def leads_topic(self) -> str:
        return self.topic_for(self.topic_prefix, "leads")

    @property
    def reverse_topic(self) -> str:
        return self.topic_for(self.reverse_topic_prefix, "leads")


def replication_problem(replication_factor: int, live_brokers: int) -> str | None:
    """What is wrong when topics need more copies than the cluster has live brokers; None if not.

    >>> replication_problem(3, 3) is None
    True
    >>> print(replication_problem(3, 1)[:78])
    STREAMER_KAFKA__REPLICATION_FACTOR is 3 but the cluster has 1 live broker(s): 
    """
    if replication_factor <= live_brokers:
        return None
    return (f"STREAMER_KAFKA__REPLICATION_FACTOR is {replication_factor} but the cluster has {live_brokers} live "
            f"broker(s): a topic cannot have more replicas than brokers; lower it to at most "
            f"{max(live_brokers, 1)} or start more brokers")
