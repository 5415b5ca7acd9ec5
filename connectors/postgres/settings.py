"""What the PostgreSQL connector is told: a database by DSN, and the table read there.

The service extends this into its `source` section (`STREAMER_SOURCE__*`); the DSN rule
(`connectors.net.check_postgres_dsn`) also checks the destination's optional DSN.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from connectors.net import check_postgres_dsn


class PostgresSettings(BaseModel):
    """A PostgreSQL database and the table of leads in it."""

    # hide_input_in_errors: a ValidationError's text would otherwise quote the DSN, password and all.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    # The local stack's source database (`python -m devstack up`).
    dsn: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:54321/tabuladormax")
    schema_name: str = "public"
    table: str = "leads"

    @field_validator("dsn")
    @classmethod
    def _postgres_dsn(cls, value: SecretStr) -> SecretStr:
        return check_postgres_dsn(value)

    @property
    def database(self) -> str:
        """The database name in the DSN (events carry it as `source.db`)."""
        return urlsplit(self.dsn.get_secret_value()).path.lstrip("/") or "postgres"
