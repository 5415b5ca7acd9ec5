"""The feature packages' sections of `Settings` (`streamer/config.py` composes them with the
connectors' own settings models and the core's sections).

Each section is one `STREAMER_<SECTION>__*` group of variables; the models are frozen, refuse
unknown keys and never quote a value in a validation error (it may be a secret).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from connectors.net import is_loopback
from connectors.postgres.settings import PostgresSettings
from schemas.mapping import IDENTITY, FieldMapping


class Section(BaseModel):
    """One group of settings: frozen, strict about keys, silent about values."""

    # hide_input_in_errors: a ValidationError's text would otherwise quote the value (a DSN with
    # its password, a key), wherever someone prints one.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

def known_zone(value: str) -> str:
    """An IANA time zone name, else ValueError (history's and verify's `timezone`)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (expected an IANA name such as America/Sao_Paulo)") from None
    return value


def cron_or_none(value: str | None, *, example: str) -> str | None:
    """A cron expression (croniter syntax), None for none or blank, else ValueError showing `example`."""
    if value is None or not value.strip():
        return None
    from croniter import croniter  # type: ignore[import-untyped]

    if not croniter.is_valid(value):
        raise ValueError(f"not a cron expression: {value!r} (e.g. {example})")
    return value



class SourceSettings(PostgresSettings):
    """TabuladorMax's PostgreSQL: where leads change (the connection, then how capture reads it)."""

    capture_mode: Literal["replication", "notify"] = "replication"
    # How mode `replication` reads the slot: `protocol` (START_REPLICATION on a replication
    # connection), `sql` (pg_logical_slot_peek_binary_changes, polled), or `auto`: the protocol,
    # falling back to sql with a warning when the server refuses replication connections.
    slot_reader: Literal["auto", "protocol", "sql"] = "auto"
    publication: str = "streamer_leads"
    slot: str = "streamer_leads"
    snapshot_mode: Literal["never", "initial", "always"] = "initial"
    heartbeat_seconds: float = Field(default=10.0, gt=0)
    poll_interval_ms: int = Field(default=100, ge=1)
    page_size: int = Field(default=5000, ge=1)
    # Events per produced batch (and per chunk of a large transaction). The capture's peak RSS
    # follows it: 138 MB at 1,000, 105 at 500, 88 at 250, same CPU per event (README, Performance).
    produce_batch: int = Field(default=250, ge=1)
    # Protocol reader: batches queued for Kafka while the next one is decoded (bounded memory),
    # and how often a standby status update is sent at the least.
    produce_queue: int = Field(default=2, ge=1, le=64)
    status_interval_seconds: float = Field(default=10.0, gt=0, le=30)
    # Protocol reader: the least time between two standby status updates that move the slot.
    # Each update wakes the source's walsender; one per acknowledged transaction cost it a third
    # more CPU per change at 200 single-change transactions/s (streamer/capture/protocol.py). The
    # slot then trails what Kafka acknowledged by at most this long: a restart re-sends that much
    # (duplicates, never loss). 0 sends one per acknowledgement.
    confirm_interval_ms: int = Field(default=1000, ge=0, le=30_000)
    # Protocol reader, while changes flow: read the replication socket every this many ms rather
    # than be woken by each message the walsender sends (the walsender's CPU); a change waits at
    # most this much longer. 0.1 s after the last message, it waits on the socket. 0: always.
    stream_poll_ms: int = Field(default=10, ge=0, le=1000)
    # The capture's producer (acks=all, idempotent): Kafka batching and compression.
    produce_linger_ms: int = Field(default=5, ge=0, le=1000)
    produce_max_batch_bytes: int = Field(default=262_144, ge=16_384, le=8_388_608)
    produce_compression: Literal["none", "gzip"] = "none"
    outbox_poll_seconds: float = Field(default=1.0, gt=0)


class SinkSettings(Section):
    """Kafka to PostgREST."""

    group_id: str = "lead-sync-sink"
    batch_size: int = Field(default=50, ge=1, le=1000)
    linger_ms: int = Field(default=200, ge=0)
    max_in_flight: int = Field(default=32, ge=1, le=64)  # the adaptive window's ceiling (sink/concurrency.py)
    # /readyz turns 503 once the sink has retried the destination this long, or waited this long
    # for one answer (a hanging destination; blocked: at once).
    unready_after_seconds: float = Field(default=5.0, gt=0)
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


class WebhookSettings(Section):
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
    # Compared only when set (README, Reverse path): Supabase user tokens carry aud
    # "authenticated" and iss "https://<project>.supabase.co/auth/v1"; its legacy service_role
    # key has iss "supabase" and no aud at all.
    audience: str | None = Field(default=None, min_length=1)
    issuer: str | None = Field(default=None, min_length=1)
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


class ApplierSettings(Section):
    """The reverse topic into TabuladorMax's `leads`."""

    group_id: str = "lead-sync-applier"
    batch_size: int = Field(default=500, ge=1, le=10_000)
    poll_timeout_ms: int = Field(default=500, ge=1)
    backoff_initial_ms: int = Field(default=500, ge=1)
    backoff_max_ms: int = Field(default=30_000, ge=1)


class ValidationSettings(Section):
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


class HistorySettings(Section):
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
        return known_zone(value)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return cron_or_none(value, example="'0 3 * * *': every day at 03:00")


class MonitorSettings(Section):
    """The sync monitor page (`/monitor`, component "monitor"): who may pause, resume and reset jobs.

    Without `admin_token` the page is read-only; with it, its buttons send it as a Bearer token."""

    admin_token: SecretStr | None = None

    @field_validator("admin_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("expected at least 16 characters (e.g. `openssl rand -hex 24`)")
        return value


class VerifySettings(Section):
    """`streamer verify` (source and destination compared by id ranges) and its schedule, which the
    `verify` component runs (README, Verify & repair)."""

    # auto: the RPC functions, else (an API without /rpc/ or without the functions) plain reads.
    destination_read: Literal["auto", "rpc", "rows"] = "auto"
    columns: tuple[str, ...] = ()  # hashed besides id and updated_at (needs the RPC functions)
    fanout: int = Field(default=16, ge=2, le=256)
    leaf_size: int = Field(default=1000, ge=1, le=1000)  # at most db-max-rows (1000 on Supabase)
    batch: int = Field(default=64, ge=1, le=1000)
    page_size: int = Field(default=1000, ge=1, le=1000)  # rows per read when reading rows
    show: int = Field(default=20, ge=0)  # ids printed per kind of difference
    # A cron expression (croniter syntax, e.g. "30 4 * * *"): compare at each fire time, in `timezone`.
    schedule: str | None = None
    timezone: str = "UTC"
    schedule_misfire_seconds: float = Field(default=3600.0, gt=0)
    # Also file a repair job for what a scheduled run finds missing or different (never deletes).
    repair_on_schedule: bool = False

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return cron_or_none(value, example="'30 4 * * *': every day at 04:30")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)


NotifyEvent = Literal["job_failed", "errors", "sink_blocked"]


def _address(value: str, setting: str) -> str:
    """One e-mail address, plain (`ops@example.com`): no display name, no line breaks (a header
    injection), else ValueError naming the setting."""
    text = value.strip()
    local, at, domain = text.partition("@")
    if not at or not local or "." not in domain.strip(".") or any(c in text for c in "\r\n <>,;\"'"):
        raise ValueError(f"{setting}: expected a plain e-mail address such as ops@example.com, got {value!r}")
    return text


class NotifySettings(Section):
    """E-mail notifications (component "notify", docs/notifications.md): a job that failed, sink
    errors above a threshold in a window, the sink blocked. Off until `smtp_host` is set."""

    smtp_host: str | None = Field(default=None, min_length=1)
    smtp_port: int = Field(default=587, ge=1, le=65535)
    # STARTTLS before AUTH (port 587); off only for a relay on loopback or a trusted network.
    smtp_starttls: bool = True
    smtp_ca_file: Path | None = None  # trust this CA (an internal relay's certificate) besides the system's
    smtp_username: str | None = Field(default=None, min_length=1)
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    sender: str = "lead-sync-streamer@localhost"
    recipients: tuple[str, ...] = ()
    events: tuple[NotifyEvent, ...] = ("job_failed", "errors", "sink_blocked")
    subject_prefix: str = Field(default="[lead-sync]", max_length=60)
    timezone: str = "America/Sao_Paulo"  # the times an e-mail shows
    poll_seconds: float = Field(default=30.0, gt=0)
    # At most one e-mail per kind in this time; the next one counts those left out meanwhile.
    min_interval_seconds: float = Field(default=900.0, ge=0)
    # Mail again after an SMTP failure this much later (the notice is kept until then).
    retry_seconds: float = Field(default=60.0, gt=0)
    error_threshold: int = Field(default=50, ge=1)
    error_window_seconds: float = Field(default=600.0, gt=0)
    # The sink not ready (/readyz) this long: blocked (auth, schema drift) or retrying the destination.
    sink_blocked_after_seconds: float = Field(default=300.0, gt=0)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _address(value, "sender")

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_address(v, "recipients") for v in value)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)

    @field_validator("subject_prefix")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\r" in value or "\n" in value:
            raise ValueError("expected one line (no line breaks)")
        return value

    @property
    def enabled(self) -> bool:
        return self.smtp_host is not None

    def problems(self) -> list[str]:
        """What keeps the component from mailing anyone (checked when it starts)."""
        found = []
        if self.smtp_host is None:
            found.append("STREAMER_NOTIFY__SMTP_HOST: not set (the relay that sends the e-mails)")
        if not self.recipients:
            found.append("STREAMER_NOTIFY__RECIPIENTS: no recipient (a JSON list such as '[\"ops@example.com\"]')")
        if (self.smtp_username is None) != (self.smtp_password is None):
            found.append("STREAMER_NOTIFY__SMTP_USERNAME and STREAMER_NOTIFY__SMTP_PASSWORD: set both or neither")
        if self.smtp_ca_file is not None and not self.smtp_ca_file.is_file():
            found.append(f"STREAMER_NOTIFY__SMTP_CA_FILE: {self.smtp_ca_file} is not a file")
        return found
