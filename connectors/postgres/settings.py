"""What the PostgreSQL connector is told: a database by DSN, and the table read there.

The service extends this into its `source` section (`STREAMER_SOURCE__*`); the DSN rule here
also checks the destination's optional DSN.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator


def check_postgres_dsn(value: SecretStr) -> SecretStr:
    """A postgresql:// URL whose parts parse. Never echo the DSN itself: it may hold a password.

    An unencoded '/', '?', '#' or '@' in the password splits the URL in the wrong place; asyncpg
    then fails later with a message quoting a piece of the password. Caught here instead, at load."""
    parts = urlsplit(value.get_secret_value())
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ValueError("expected a postgresql://user:password@host:port/database URL")
    try:
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
        malformed = bool(parts.fragment) or "@" in parts.path or "@" in parts.query
    except ValueError:
        malformed = True
    if malformed:
        raise ValueError("the URL does not parse as postgresql://user:password@host:port/database: "
                         "percent-encode special characters in the user name and password "
                         "('/' as %2F, '?' as %3F, '#' as %23, '@' as %40, ':' as %3A, '%' as %25)")
    return value


class PostgresSettings(BaseModel):
    """A PostgreSQL database and the table of leads in it."""

    # hide_input_in_errors: a ValidationError's text would otherwise quote the DSN, password and all.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    # The local stack's source database (`streamer dev up`).
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
