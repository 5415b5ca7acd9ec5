"""Structured logs: JSON lines (pretty on a TTY), bound context, secrets redacted.

Redaction is the last processor before rendering, so nothing a component binds or passes can
reach the output unmasked: configured secret values anywhere in a string, values under
secret-sounding keys, and passwords inside URLs.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

MASK = "***"
SECRET_KEYS = re.compile(r"(pass(word)?|secret|token|api_?key|service_key|authorization|dsn)", re.I)
URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@/\s]+)(?P<tail>@)", re.I)


class Redactor:
    """A structlog processor that masks secrets; `Redactor(["s3cret"])`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def mask_text(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return URL_PASSWORD.sub(lambda m: m["head"] + MASK + m["tail"], text)

    def _mask(self, key: str | None, value: Any) -> Any:
        if key is not None and SECRET_KEYS.search(key) and value not in (None, ""):
            if isinstance(value, str) and value.startswith(("postgres://", "postgresql://")):
                return self.mask_text(value)
            return MASK
        if isinstance(value, str):
            return self.mask_text(value)
        if isinstance(value, dict):
            return {k: self._mask(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._mask(None, v) for v in value]
        if isinstance(value, BaseException):
            return self.mask_text(repr(value))
        return value

    def __call__(
        self, logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        return {k: self._mask(k if k != "event" else None, v) for k, v in event_dict.items()}


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
