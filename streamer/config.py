"""The one typed configuration of the service, read once by the CLI and passed down.

Values come from environment variables prefixed `STREAMER_` (nested with `__`, e.g.
`STREAMER_SINK__BATCH_SIZE=50`) and optionally a TOML file (`STREAMER_CONFIG_FILE` or
`--config`), environment first. Defaults match the local stack (`python -m devstack up`), except
the secrets, which `python -m devstack env` prints.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from schemas.mapping import IDENTITY, FieldMapping
from streamer.errors import ConfigError

ENV_PREFIX = "STREAMER_"
NESTED = "__"
LOOPBACK_HOSTS = {"localhost", "localhost.localdomain"}


def is_loopback(host: str | None) -> bool:
    """True for `localhost` and any address in 127.0.0.0/8 or ::1."""
    if not host:
        return False
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Section(BaseModel):
    # hide_input_in_errors: a ValidationError's text would otherwise quote the value (a DSN with
    # its password, a key), wherever someone prints one.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class SourceSettings(_Section):
    """TabuladorMax's PostgreSQL: where leads change."""

    dsn: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:54321/tabuladormax")
    schema_name: str = "public"
    table: str = "leads"
    capture_mode: Literal["replication", "notify"] = "replication"
    publication: str = "streamer_leads"
    slot: str = "streamer_leads"
    snapshot_mode: Literal["never", "initial", "always"] = "initial"
    heartbeat_seconds: float = Field(default=10.0, gt=0)
    poll_interval_ms: int = Field(default=100, ge=1)
    page_size: int = Field(default=5000, ge=1)
    produce_batch: int = Field(default=1000, ge=1)
    outbox_poll_seconds: float = Field(default=1.0, gt=0)

    @field_validator("dsn")
    @classmethod
    def _postgres_dsn(cls, value: SecretStr) -> SecretStr:
        return _check_postgres_dsn(value)

    @property
    def database(self) -> str:
        """The database name in the DSN (events carry it as `source.db`)."""
        return urlsplit(self.dsn.get_secret_value()).path.lstrip("/") or "postgres"


class KafkaSettings(_Section):
    """The Kafka cluster between the stages."""

    bootstrap_servers: str = "127.0.0.1:19092"
    client_id: str = "lead-sync-streamer"
    topic_prefix: str = "tabuladormax"
    reverse_topic_prefix: str = "gestao_scouter"
    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    request_timeout_ms: int = Field(default=30_000, ge=1000)

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {server.strip()!r}")
        return value

    def topic_for(self, prefix: str, table: str, schema_name: str = "public") -> str:
        """Debezium's topic naming: `<prefix>.<schema>.<table>`."""
        return f"{prefix}.{schema_name}.{table}"

    @property
    def leads_topic(self) -> str:
        return self.topic_for(self.topic_prefix, "leads")

    @property
    def reverse_topic(self) -> str:
        return self.topic_for(self.reverse_topic_prefix, "leads")


class DestinationSettings(_Section):
    """Gestão Scouter's Supabase project (or the PostgREST-compatible dev server)."""

    # Plain HTTP to a non-loopback host, for a private network such as docker compose's.
    # (Declared before `url`, whose validator reads it.)
    allow_http: bool = False
    url: str = "http://127.0.0.1:54330"
    # Supabase serves the Data API under /rest/v1; a bare PostgREST (docker compose) at the root.
    rest_path: str = "/rest/v1"
    service_key: SecretStr | None = None
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
        return None if value is None else _check_postgres_dsn(value)

    @property
    def rest_url(self) -> str:
        """Supabase's Data API root."""
        return f"{self.url}{self.rest_path.rstrip('/')}"


class SinkSettings(_Section):
    """Kafka to PostgREST."""

    group_id: str = "lead-sync-sink"
    batch_size: int = Field(default=50, ge=1, le=1000)
    linger_ms: int = Field(default=200, ge=0)
    max_in_flight: int = Field(default=4, ge=1, le=64)
    max_attempts: int = Field(default=3, ge=1)
    backoff_initial_ms: int = Field(default=500, ge=1)
    backoff_max_ms: int = Field(default=30_000, ge=1)
    requests_per_second: float | None = Field(default=None, gt=0)
    delete_mode: Literal["propagate", "ignore"] = "propagate"
    skip_sync_sources: tuple[str, ...] = ("gestao_scouter", "supabase")
    mapping_file: Path | None = None
    unmapped_columns: Literal["pass", "drop"] = "pass"

    def field_mapping(self) -> FieldMapping:
        """The mapping file if one is configured (else identity), with the configured policy: the
        one reading of the mapping settings, for the sink, the applier and the webhook alike."""
        mapping = FieldMapping.load(self.mapping_file) if self.mapping_file else IDENTITY
        return mapping.with_policy(self.unmapped_columns)


class WebhookSettings(_Section):
    """The reverse path's webhook bridge (`sync-from-gestao-scouter`): who may call it, how much.

    At least one key source is needed when the component runs: `jwt_secret` (HS256, the
    project's JWT secret) and/or `jwks_file` / `jwks_url` (RS256/ES256, newer Supabase projects)."""

    path: str = "/functions/v1/sync-from-gestao-scouter"
    jwt_secret: SecretStr | None = None
    jwks_file: Path | None = None
    jwks_url: str | None = None
    jwks_cache_seconds: float = Field(default=300.0, gt=0)
    allowed_roles: tuple[str, ...] = ("service_role",)
    leeway_seconds: float = Field(default=30.0, ge=0, le=300)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_leads: int = Field(default=1000, ge=1)
    echo_sources: tuple[str, ...] = ("tabuladormax",)
    publish_timeout_seconds: float = Field(default=10.0, gt=0)
    retry_after_seconds: int = Field(default=5, ge=1)

    @field_validator("path")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        if not value.startswith("/") or value.endswith("/"):
            raise ValueError(f"expected a path such as /functions/v1/sync-from-gestao-scouter, got {value!r}")
        return value

    @field_validator("jwks_url")
    @classmethod
    def _jwks_https(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(parts.hostname)):
            raise ValueError("expected an https:// URL (plain http only on loopback)")
        return value


class ApplierSettings(_Section):
    """The reverse topic into TabuladorMax's `leads`."""

    group_id: str = "lead-sync-applier"
    batch_size: int = Field(default=500, ge=1, le=10_000)
    poll_timeout_ms: int = Field(default=500, ge=1)
    backoff_initial_ms: int = Field(default=500, ge=1)
    backoff_max_ms: int = Field(default=30_000, ge=1)


class HttpSettings(_Section):
    """The service's own HTTP endpoint: /metrics, /healthz, /readyz (and later the webhook)."""

    host: str = "127.0.0.1"
    port: int = Field(default=18080, ge=0, le=65535)


class LogSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "json", "console"] = "auto"


class RunSettings(_Section):
    components: tuple[Literal["capture", "sink", "webhook", "applier", "exporter", "monitor"], ...] = ()
    shutdown_grace_seconds: float = Field(default=30.0, gt=0)


class ValidationSettings(_Section):
    """`streamer validate`, `schema reload-cache` and `doctor`: cache, waits and alert thresholds."""

    # None: $XDG_CACHE_HOME/streamer, else ~/.cache/streamer.
    cache_dir: Path | None = None
    cache_seconds: float = Field(default=300.0, ge=0)  # the seed cached a valid schema for 5 minutes
    reload_timeout_seconds: float = Field(default=90.0, gt=0)  # the seed said 30-60 s
    reload_poll_seconds: float = Field(default=1.0, gt=0)
    max_retained_wal_bytes: int = Field(default=1024**3, ge=0)
    max_consumer_lag: int = Field(default=10_000, ge=0)
    stuck_job_seconds: float = Field(default=3600.0, gt=0)


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers) and no LOGNAME/USER
        return "unknown"


class HistorySettings(_Section):
    """Export jobs, replays and error retries (issue 7); the `exporter` component runs them."""

    # Who the audit log names for CLI actions (a token subject, a person's name); the OS user by default.
    operator: str = Field(default_factory=_os_user, min_length=1)
    stuck_after_seconds: float = Field(default=3600.0, gt=0)
    page_size: int = Field(default=1000, ge=1, le=50_000)
    poll_seconds: float = Field(default=2.0, gt=0)
    max_concurrent_jobs: int = Field(default=2, ge=1, le=32)
    # Dates of an export range are days in this zone (TabuladorMax's call centre: America/Sao_Paulo).
    timezone: str = "UTC"
    # A cron expression (croniter syntax, e.g. "0 3 * * *"): create an export job at each fire time.
    schedule: str | None = None
    schedule_window_days: int = Field(default=1, ge=1)
    schedule_date_field: Literal["criado", "updated_at"] = "updated_at"
    # A fire time missed by up to this much (the service was down) still creates its job.
    schedule_misfire_seconds: float = Field(default=3600.0, gt=0)
    replay_group_prefix: str = "lead-sync-replay"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (expected an IANA name such as America/Sao_Paulo)") from None
        return value

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from croniter import croniter  # type: ignore[import-untyped]

        if not croniter.is_valid(value):
            raise ValueError(f"not a cron expression: {value!r} (e.g. '0 3 * * *': every day at 03:00)")
        return value


class MonitorSettings(_Section):
    """The sync monitor page (`/monitor`, component "monitor"): who may pause, resume and reset jobs.

    Without `admin_token` the page is read-only; with it, its buttons send it as a Bearer token."""

    admin_token: SecretStr | None = None

    @field_validator("admin_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("expected at least 16 characters (e.g. `openssl rand -hex 24`)")
        return value


class Settings(BaseSettings):
    """Everything the service can be told. Frozen: read once, passed down."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED,
        frozen=True,
        extra="forbid",
        hide_input_in_errors=True,
    )

    source: SourceSettings = SourceSettings()
    kafka: KafkaSettings = KafkaSettings()
    destination: DestinationSettings = DestinationSettings()
    sink: SinkSettings = SinkSettings()
    http: HttpSettings = HttpSettings()
    log: LogSettings = LogSettings()
    run: RunSettings = RunSettings()
    webhook: WebhookSettings = WebhookSettings()
    applier: ApplierSettings = ApplierSettings()
    history: HistorySettings = HistorySettings()
    validation: ValidationSettings = ValidationSettings()
    monitor: MonitorSettings = MonitorSettings()

    def secrets(self) -> list[str]:
        """Every secret value configured, for the log redaction processor."""
        found: list[str] = []
        for value in (self.source.dsn, self.destination.dsn, self.destination.service_key,
                      self.kafka.sasl_password, self.webhook.jwt_secret,
                      self.monitor.admin_token):
            if value is not None:
                found.append(value.get_secret_value())
        return [s for s in found if s]


def _check_postgres_dsn(value: SecretStr) -> SecretStr:
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


def load_settings(config_file: Path | None = None) -> Settings:
    """Read the settings, or raise ConfigError with one line per problem."""
    if config_file is not None and not config_file.is_file():
        raise ConfigError([f"config file {config_file}: not found"])
    settings_cls = _with_toml(config_file) if config_file else Settings
    try:
        return settings_cls()
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc.errors(include_url=False))) from None
    except ValueError as exc:  # malformed TOML or JSON in a complex env value
        raise ConfigError(_unparsed_env(os.environ) or [f"{config_file or 'environment'}: {exc}"]) from None


def _with_toml(path: Path) -> type[Settings]:
    class _FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=path)

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    return _FileSettings


def env_name(loc: Sequence[int | str]) -> str:
    """`("sink", "batch_size")` -> `STREAMER_SINK__BATCH_SIZE`."""
    return ENV_PREFIX + NESTED.join(str(part).upper() for part in loc)


def describe_errors(errors: Sequence[Any]) -> list[str]:
    """One line per problem: the variable, the file key, and what is wrong with it."""
    lines = []
    for error in errors:
        loc = [p for p in error["loc"] if not isinstance(p, int)]
        where = f"{env_name(loc)} (or {'.'.join(map(str, loc))} in the config file)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        lines.append(f"{where}: {message}")
    return lines


# Environment values pydantic-settings reads as JSON (lists, sections); an example of each.
_JSON_EXAMPLES = {
    ("sink", "skip_sync_sources"): '["gestao_scouter","supabase"]',
    ("run", "components"): '["capture","sink"]',
    ("webhook", "allowed_roles"): '["service_role"]',
    ("webhook", "echo_sources"): '["tabuladormax"]',
}


def _unparsed_env(environ: Mapping[str, str]) -> list[str]:
    """One line per environment variable that should hold JSON and does not, naming it and an
    example (pydantic-settings only says `error parsing value for field "sink"`). The value is
    not quoted: it may be a secret put in the wrong variable."""
    lines = []
    for name, value in sorted(environ.items()):
        key = name.upper()
        if not key.startswith(ENV_PREFIX):
            continue
        path = tuple(key.removeprefix(ENV_PREFIX).lower().split(NESTED))
        if len(path) == 1 and path[0] in Settings.model_fields:
            example = "an object such as '{\"batch_size\": 50}'"
        elif path in _JSON_EXAMPLES:
            example = f"a JSON list such as '{_JSON_EXAMPLES[path]}'"
        else:
            continue
        try:
            json.loads(value)
        except ValueError:
            lines.append(f"{key}: expected {example}; the value is not JSON")
    return lines


_URL_IN_TEXT = re.compile(r"[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.IGNORECASE)


def mask_url(url: str) -> str:
    """`url` with the password of its user info (a lone user name too) and every query value
    masked, for output:

    >>> mask_url("https://user:pw@example.com/rest?apikey=abc&x=1")
    'https://user:***@example.com/rest?apikey=***&x=***'
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, host = netloc.rpartition("@")
            user, sep, _ = userinfo.partition(":")
            # A lone user name may be a token (https://<token>@host): masked as well.
            netloc = f"{user}:***@{host}" if sep else f"***@{host}"
        query = "&".join(f"{field.partition('=')[0]}=***" if "=" in field else "***"
                         for field in parts.query.split("&")) if parts.query else ""
        return urlunsplit((parts.scheme, netloc, parts.path, query, "***" if parts.fragment else ""))
    except ValueError:  # not parseable: show nothing of it
        return "<a URL that does not parse>"


def mask_urls(text: str) -> str:
    """`text` with every URL in it passed through `mask_url` (for details that quote a URL)."""
    def one(match: re.Match[str]) -> str:
        url = match[0].rstrip(".,;:!?)]}")  # punctuation after a URL in a sentence is not part of it
        return mask_url(url) + match[0][len(url):]

    return _URL_IN_TEXT.sub(one, text)
