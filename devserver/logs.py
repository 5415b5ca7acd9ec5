"""The dev server's logging: one line per event, tracebacks without local variables, and the
database password, the database URI and the JWT secret replaced by `***` wherever they appear.

Left unconfigured, structlog renders an exception with Rich when Rich is installed, and Rich's
traceback prints every frame's local variables: during a database restart that wrote the
connection string, password included, into the log (issue 14). Configured here instead, before
the server starts (`__main__.py`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any
from urllib.parse import unquote, urlsplit

import structlog

MASK = "***"


def secrets_of(db_uri: str, jwt_secret: str) -> tuple[str, ...]:
    """What must never be printed: the URI, its password (as written and decoded), the JWT secret."""
    password = urlsplit(db_uri).password or ""
    found = {db_uri, jwt_secret, password, unquote(password)}
    return tuple(sorted((s for s in found if len(s) >= 4), key=len, reverse=True))


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


class _ScrubFilter(logging.Filter):
    """Scrubs the standard library's records (uvicorn's errors and tracebacks) the same way."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, None
        record.msg, record.args = scrub(message, self.secrets), None
        return True


def configure(*, db_uri: str, jwt_secret: str, level: str = "warning") -> None:
    """Log to standard error, plain text tracebacks (no locals), secrets scrubbed."""
    secrets = secrets_of(db_uri, jwt_secret)

    def scrubbed(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        return {k: scrub(v, secrets) if isinstance(v, str) else v for k, v in event.items()}

    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,  # the plain traceback: no frame's locals
            scrubbed,
            structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "event"]),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ScrubFilter(secrets))
    for name in ("", "uvicorn", "uvicorn.error", "asyncio"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = name == ""
    logging.getLogger().setLevel(level.upper())
