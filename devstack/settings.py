"""The local stack's settings: where its state lives and which loopback ports it uses.

Read from environment variables `STREAMER_DEV__*` (e.g. `STREAMER_DEV__DIR=/tmp/stack`,
`STREAMER_DEV__KAFKA_PORT=29092`), the names they had when these settings were the product's
`dev` section. The product's own settings (`streamer.config.Settings`) know nothing of them.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "STREAMER_DEV__"


class DevStackSettings(BaseSettings):
    """The local stack of real services (`python -m devstack up`), all on loopback."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid",
                                      hide_input_in_errors=True)

    dir: Path = Path(".stack")
    source_port: int = 54321
    destination_port: int = 54322
    postgrest_port: int = 54330
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    # A cluster's node i (0-based) listens on kafka_port + i*step and kafka_controller_port + i*step.
    kafka_port_step: int = Field(default=100, ge=2)
    brokers: int = Field(default=1, ge=1, le=9)  # `up --brokers N` overrides; docs/cluster.md
    kafka_heap_mb: int = Field(default=512, ge=256)
    prometheus_port: int = 19090
