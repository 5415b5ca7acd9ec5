"""What every command shares: the consoles, the `--config` option, settings loading, and the
one place that turns an error into an `error:` line and an exit code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from streamer.config import Settings, load_settings
from streamer.errors import ConfigError, StreamerError

out = Console()
err = Console(stderr=True)
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", envvar="STREAMER_CONFIG_FILE",
                                                   help="TOML file; environment variables win.")]


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


MIGRATE_FIX = "run `streamer db migrate --target source`"


@contextmanager
def reported() -> Iterator[None]:
    """Turn the errors a command may meet into one `error:` line and exit code 1 (2 for usage
    and configuration: ValueError, ConfigError). A table the migrations create that is missing
    gets the command that creates it."""
    from connectors.kafka.errors import KafkaConnectorError
    from connectors.postgres.errors import PostgresError

    try:
        yield
    except (ValueError, ConfigError) as exc:
        fail("; ".join(exc.problems) if isinstance(exc, ConfigError) else str(exc), 2)
    except PostgresError as exc:
        fail(f"{exc}: {MIGRATE_FIX}" if exc.sqlstate == "42P01" else str(exc))
    except (StreamerError, KafkaConnectorError) as exc:
        fail(str(exc))


def settings_or_exit(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        for line in exc.problems:
            typer.echo(f"config: {line}", err=True)
        raise typer.Exit(2) from None


def setup_logging(settings: Settings) -> None:
    from streamer.logging import configure_logging

    configure_logging(level=settings.log.level, fmt=settings.log.format, secrets=settings.secrets())
