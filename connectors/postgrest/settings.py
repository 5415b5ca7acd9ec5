"""What the PostgREST connector is told: where the destination's API is, the key to it, the table.

The service composes this as its `destination` section (`STREAMER_DESTINATION__*`); the messages
name those variables because that is where an operator sets them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

from connectors.net import check_postgres_dsn, is_loopback


class DestinationSettings(BaseModel):
    """Gestão Scouter's Supabase project (or the PostgREST-compatible dev server)."""

    # hide_input_in_errors: a ValidationError's text would otherwise quote the value (a key, a DSN).
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    # Plain HTTP to a non-loopback host, for a private network such as docker compose's.
    # (Declared before `url`, whose validator reads it.)
    allow_http: bool = False
    url: str = "http://127.0.0.1:54330"
    # Supabase serves the Data API under /rest/v1; a bare PostgREST (docker compose) at the root.
    rest_path: str = "/rest/v1"
    service_key: SecretStr | None = None
    # The project's database, for what the API cannot do (catalog reads, NOTIFY, backups).
    dsn: SecretStr | None = None
    table: str = "leads"
    timeout_seconds: float = Field(default=30.0, gt=0)

    @field_validator("url")
    @classmethod
    def _https_unless_loopback(cls, value: str, info: ValidationInfo) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"expected an http(s) URL such as https://xyz.supabase.co, got {value!r}")
        if parts.scheme == "http" and not (is_loopback(parts.hostname) or info.data.get("allow_http")):
            raise ValueError("HTTPS is required except on loopback (127.0.0.1, localhost) "
                             "or with STREAMER_DESTINATION__ALLOW_HTTP=true")
        return value.rstrip("/")

    @field_validator("dsn")
    @classmethod
    def _postgres_dsn(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is None else check_postgres_dsn(value)

    @property
    def rest_url(self) -> str:
        """Supabase's Data API root."""
        return f"{self.url}{self.rest_path.rstrip('/')}"
