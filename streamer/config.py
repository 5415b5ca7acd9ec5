"""The one typed configuration of the service, read once by the CLI and passed down.

Values come from environment variables prefixed `STREAMER_` (nested with `__`, e.g.
`STREAMER_SINK__BATCH_SIZE=50`) and optionally a TOML file (`STREAMER_CONFIG_FILE` or
`--config`), environment first. Defaults match the local stack (`python -m devstack up`), except
the secrets, which `python -m devstack env` prints.

`Settings` composes the connectors' own models (`connectors/kafka/settings.py`,
`connectors/postgrest/settings.py`, `connectors/postgres/settings.py` under `source`), the feature
sections (`streamer/sections.py`) and the core's own sections below (http, log, run).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from connectors.kafka.settings import KafkaSettings
from connectors.postgrest.settings import DestinationSettings
from streamer.errors import ConfigError
from streamer.sections import (
    ApplierSettings,
    HistorySettings,
    MonitorSettings,
    NotifySettings,
    SinkSettings,
    SourceSettings,
    ValidationSettings,
    VerifySettings,
    WebhookSettings,
)
from streamer.sections import Section as _Section

ENV_PREFIX = "STREAMER_"
NESTED = "__"


class HttpSettings(_Section):
    """The service's own HTTP endpoint: /metrics, /healthz, /readyz (and later the webhook)."""

    host: str = "127.0.0.1"
    port: int = Field(default=18080, ge=0, le=65535)


class LogSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "json", "console"] = "auto"


class RunSettings(_Section):
    components: tuple[Literal["capture", "sink", "webhook", "applier", "exporter", "monitor", "verify",
                                 "notify"], ...] = ()
    shutdown_grace_seconds: float = Field(default=30.0, gt=0)


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
    verify: VerifySettings = VerifySettings()
    notify: NotifySettings = NotifySettings()

    def secrets(self) -> list[str]:
        """Every secret value configured, for the log redaction processor."""
        found: list[str] = []
        for value in (self.source.dsn, self.destination.dsn, self.destination.service_key,
                      self.kafka.sasl_password, self.webhook.jwt_secret,
                      self.monitor.admin_token, self.notify.smtp_password):
            if value is not None:
                found.append(value.get_secret_value())
        return [s for s in found if s]


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
    ("notify", "recipients"): '["ops@example.com"]',
    ("notify", "events"): '["job_failed","sink_blocked"]',
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
