"""Structured logs: JSON lines (pretty on a TTY), bound context, secrets redacted.

Redaction is the last processor before rendering, so nothing a component binds or passes can
reach the output unmasked: configured secret values anywhere in a string, values under
secret-sounding keys, and passwords inside URLs (`connectors.redaction.Redactor`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import structlog

from connectors.redaction import Redactor


def configure_logging(
    *, level: str = "INFO", fmt: str = "auto", secrets: Iterable[str] = (), stream: TextIO | None = None
) -> None:
    """Set up structlog (and the stdlib root logger, for libraries) once per process."""
    stream = stream or sys.stderr
    pretty = fmt == "console" or (fmt == "auto" and stream.isatty())
    redactor = Redactor(secrets)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redactor,
    ]
    renderer: Any = structlog.dev.ConsoleRenderer() if pretty else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level)),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    # Libraries (aiokafka, uvicorn, asyncio) log through the stdlib: route them through the same
    # redaction and rendering.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared[:-1],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, redactor, renderer]
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(getattr(logging, level), logging.INFO))
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


def get_logger(name: str, **context: Any) -> Any:
    """A bound logger: `get_logger(__name__, slot="s1")`."""
    # Lazy: the processors are looked up at first use, so module-level loggers created before
    # `configure_logging` still render with its configuration.
    return structlog.get_logger(logger_name=name, **context)
