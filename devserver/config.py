"""Server configuration, read from PostgREST's own environment variable names."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator


class ConfigError(Exception):
    """A required variable is missing or a value is malformed; the message names the variable."""


class ServerConfig(BaseModel):
    """Frozen settings: `ServerConfig.from_env(os.environ)` in the CLI, direct construction in tests.

    A plain model (not pydantic-settings) so that building one in a test never reads the
    environment.

    Example: `ServerConfig(db_uri="postgresql://postgres@127.0.0.1/postgres", jwt_secret="s" * 32)`.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    db_uri: SecretStr
    jwt_secret: SecretStr
    db_anon_role: str = "anon"
    db_schemas: tuple[str, ...] = ("public",)
    # Appended to the request's schema in search_path; hosted Supabase's value (self-hosted and
    # plain PostgREST: `public`).
    db_extra_search_path: tuple[str, ...] = ("public", "extensions")
    db_max_rows: int = Field(default=1000, ge=1)
    server_host: str = "127.0.0.1"
    server_port: int = Field(default=3000, ge=0, le=65535)
    db_pool: int = Field(default=10, ge=1)
    db_pool_acquisition_timeout: float = Field(default=10.0, gt=0)
    jwt_leeway_seconds: int = 30
    # Not PostgREST settings: the size of the admin request log (ring buffer), and pg-safeupdate,
    # which Supabase loads for its API roles: a DELETE or PATCH without filters is 400 21000
    # (`PGRST_SAFEUPDATE=false` for plain PostgREST's behaviour).
    request_log_size: int = Field(default=1000, ge=1)
    safeupdate: bool = True

    @field_validator("db_schemas", "db_extra_search_path", mode="before")
    @classmethod
    def _split_schemas(cls, value: object) -> object:
        """`PGRST_DB_SCHEMAS=public,storage` is a comma-separated list, as in PostgREST."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ServerConfig:
        """Build from `PGRST_*` variables, raising `ConfigError` that names the first bad one."""
        values = {key[len("PGRST_") :].lower(): value for key, value in environ.items() if key.startswith("PGRST_")}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    name = "PGRST_" + str(first["loc"][0]).upper() if first["loc"] else "configuration"
    if first["type"] == "missing":
        return f"{name} is required but not set"
    # Never echo the input: it may be the JWT secret or a DSN with a password.
    return f"{name} is invalid: {first['msg']}"
