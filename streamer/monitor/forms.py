"""The console's forms and filters, parsed and checked before anything runs: each bad field is
a FormError naming the field and what is expected (answered 422 with that message)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

from streamer.errors import StreamerError

# The columns an export may filter on (streamer/history/keyset.py DATE_FIELDS; a test keeps both equal).
DATE_FIELDS = ("criado", "updated_at")
MAX_PURGE_DAYS = 3650


class FormError(StreamerError):
    """One field of a form is missing or wrong; the message names it."""


@dataclass(frozen=True)
class ExportForm:
    start: date
    end: date
    date_field: str
    mapping: bytes | None  # the seed's JSON, to validate and install before the export starts


def _date(body: dict[str, Any], name: str) -> date:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise FormError(f"{name}: a date such as 2025-01-31 is required")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FormError(f"{name}: expected a date such as 2025-01-31, got {value!r}") from None


def export_form(body: Any) -> ExportForm:
    """{"start": "2025-01-01", "end": "2025-01-31", "date_field": "criado", "mapping": {...} | null}"""
    if not isinstance(body, dict):
        raise FormError("expected a JSON object with start, end, date_field and an optional mapping")
    start, end = _date(body, "start"), _date(body, "end")
    if end < start:
        raise FormError(f"end ({end}) is before start ({start})")
    field = body.get("date_field", "criado")
    if field not in DATE_FIELDS:
        raise FormError(f"date_field must be one of {', '.join(DATE_FIELDS)}, not {field!r}")
    mapping = body.get("mapping")
    if mapping is not None and not isinstance(mapping, dict):
        raise FormError('mapping: expected the seed\'s JSON object, e.g. {"fieldMappings": {"celular": "phone"}}')
    return ExportForm(start, end, field, orjson.dumps(mapping) if mapping is not None else None)


def purge_days(body: Any) -> timedelta:
    """{"older_than_days": 90} → 90 days (1 to 3650)."""
    days = body.get("older_than_days") if isinstance(body, dict) else None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_PURGE_DAYS:
        raise FormError(f"older_than_days: a whole number of days from 1 to {MAX_PURGE_DAYS} is required")
    return timedelta(days=days)


def moment(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 time from a filter (naive ones are UTC: the page sends UTC)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FormError(f"{name}: expected a time such as 2025-01-31T12:00:00Z, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def status_filter(value: str | None) -> int | None:
    """An HTTP status to filter errors on (0: rows without one)."""
    if not value:
        return None
    if not value.isdigit() or int(value) > 599:
        raise FormError(f"status: expected an HTTP status such as 409 (or 0 for none), got {value!r}")
    return int(value)
