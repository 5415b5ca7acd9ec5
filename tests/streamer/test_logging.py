"""Structured logs: JSON lines with bound context, and secrets masked wherever they appear."""

from __future__ import annotations

import io
import json

import pytest
import structlog

from connectors.redaction import MASK
from streamer.logging import configure_logging, get_logger

SECRET = "eyJhbGciOiJIUzI1NiJ9.service-role-secret"


@pytest.fixture
def stream() -> io.StringIO:
    buffer = io.StringIO()
    configure_logging(level="DEBUG", fmt="json", secrets=[SECRET, "pg-pass-123"], stream=buffer)
    yield buffer
    structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_logs_are_json_lines_with_bound_context(stream: io.StringIO) -> None:
    """Each event is one JSON object carrying the context bound to the logger."""
    get_logger("t", slot="leads_slot", partition=3).info("batch landed", leads=50)
    (event,) = lines(stream)
    assert event["event"] == "batch landed"
    assert (event["slot"], event["partition"], event["leads"], event["level"]) == ("leads_slot", 3, 50, "info")


def test_a_configured_secret_is_masked_in_the_message_values_and_nested_data(stream: io.StringIO) -> None:
    """A secret value is replaced wherever it appears: message, values, nested dicts and lists."""
    log = get_logger("t")
    log.warning(f"request with key {SECRET} failed", headers={"apikey": SECRET, "x": [SECRET]},
                detail=f"Bearer {SECRET}")
    output = stream.getvalue()
    assert SECRET not in output
    assert output.count(MASK) >= 4


def test_secret_sounding_keys_are_masked_even_with_unknown_values(stream: io.StringIO) -> None:
    """Values under keys like password, token or service_key are masked even if never configured."""
    get_logger("t").info("connecting", password="unlisted-pw", token="tok-1", service_key="k-2", rows=5)
    (event,) = lines(stream)
    assert (event["password"], event["token"], event["service_key"], event["rows"]) == (MASK, MASK, MASK, 5)


def test_passwords_inside_urls_are_masked(stream: io.StringIO) -> None:
    """A DSN's password is masked even when the DSN was not configured as a secret."""
    get_logger("t").error("cannot connect to postgresql://app:other-pw@db:5432/x")
    assert "other-pw" not in stream.getvalue()
    assert "postgresql://app:***@db:5432/x" in stream.getvalue()


def test_exceptions_are_rendered_redacted(stream: io.StringIO) -> None:
    """A traceback whose message holds a secret is masked too."""
    try:
        raise RuntimeError("auth failed for pg-pass-123")
    except RuntimeError:
        get_logger("t").exception("boom")
    assert "pg-pass-123" not in stream.getvalue()
    assert "RuntimeError" in stream.getvalue()


def test_library_logs_through_the_stdlib_are_redacted(stream: io.StringIO) -> None:
    """Third-party libraries logging through `logging` go through the same redaction."""
    import logging

    logging.getLogger("some.library").warning("using key %s", SECRET)
    assert SECRET not in stream.getvalue()
    assert "using key ***" in stream.getvalue()
