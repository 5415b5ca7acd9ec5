"""What every command shares: the consoles, the `--config` option, settings loading, and the
one place that turns an error into an `error:` line and an exit code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from connectors.errors import ConnectorError
from connectors.redaction import mask_urls
from streamer.config import Settings, load_settings
from streamer.errors import CheckFailed, ConfigError, StreamerError

out = Console()
err = Console(stderr=True)
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", envvar="STREAMER_CONFIG_FILE",
                                                   help="TOML file; environment variables win.")]


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


MIGRATE_FIX = "run `streamer db migrate --target source`"
USAGE = 2  # the exit code of a usage or configuration error; any other error exits with 1


@contextmanager
def reported() -> Iterator[None]:
    """Turn the errors a command may meet into one `error:` line (`error_line`) and an exit code:
    2 for usage and configuration (ValueError, ConfigError), 1 for any other error of the two
    roots, `ConnectorError` (connectors/errors.py) and `StreamerError` (streamer/errors.py).
    Anything else is a bug and keeps its traceback."""
    try:
        yield
    except (ValueError, ConfigError) as exc:
        fail(error_line(exc), USAGE)
    except (ConnectorError, StreamerError) as exc:
        fail(error_line(exc))


def error_line(exc: Exception) -> str:
    """What follows `error: `: the error's message with the URLs in it masked (`mask_urls`), plus
    the fix the error carries: a table the migrations create that is missing (SQLSTATE 42P01)
    gets the command that creates it, a failed check its `fix`."""
    from connectors.postgres.errors import PostgresError  # here: asyncpg is slow to import

    if isinstance(exc, PostgresError) and exc.sqlstate == "42P01":
        line = f"{exc}: {MIGRATE_FIX}"
    elif isinstance(exc, CheckFailed) and exc.fix:
        line = f"{exc.detail}. Fix: {exc.fix}"
    else:
        line = str(exc)
    return mask_urls(line)


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
