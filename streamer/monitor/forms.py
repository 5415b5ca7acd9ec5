"""The console's forms and filters, parsed and checked before anything runs: each bad field is
a FormError naming the field and what is expected (answered 422 with that message)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

from streamer.errors import StreamerError
from streamer.texts import Said, said

# The columns an export may filter on (streamer/history/keyset.py DATE_FIELDS; a test keeps both equal).
DATE_FIELDS = ("criado", "updated_at")
MAX_PURGE_DAYS = 3650


class FormError(StreamerError):
    """One field of a form is missing or wrong; the message names it (in English; `said` is the
    same as a code with parameters, for the page to show in the operator's language)."""

    def __init__(self, text: Said) -> None:
        super().__init__(text.english)
        self.said = text


@dataclass(frozen=True)
class ExportForm:
    start: date
    end: date
    date_field: str
    mapping: bytes | None  # the seed's JSON, to validate and install before the export starts


def _date(body: dict[str, Any], name: str) -> date:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise FormError(said("form.date_required", field=name))
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FormError(said("form.date_invalid", field=name, value=value)) from None


def export_form(body: Any) -> ExportForm:
    """{"start": "2025-01-01", "end": "2025-01-31", "date_field": "criado", "mapping": {...} | null}"""
    if not isinstance(body, dict):
        raise FormError(said("form.export_not_object"))
    start, end = _date(body, "start"), _date(body, "end")
    if end < start:
        raise FormError(said("form.end_before_start", end=str(end), start=str(start)))
    field = body.get("date_field", "criado")
    if field not in DATE_FIELDS:
        raise FormError(said("form.date_field", choices=", ".join(DATE_FIELDS), value=str(field)))
    mapping = body.get("mapping")
    if mapping is not None and not isinstance(mapping, dict):
        raise FormError(said("form.mapping_not_object", example='{"fieldMappings": {"celular": "phone"}}'))
    return ExportForm(start, end, field, orjson.dumps(mapping) if mapping is not None else None)


def purge_days(body: Any) -> timedelta:
    """{"older_than_days": 90} → 90 days (1 to 3650)."""
    days = body.get("older_than_days") if isinstance(body, dict) else None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_PURGE_DAYS:
        raise FormError(said("form.purge_days", max=MAX_PURGE_DAYS))
    return timedelta(days=days)


def moment(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 time from a filter (naive ones are UTC: the page sends UTC)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FormError(said("form.time_invalid", field=name, value=value)) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def status_filter(value: str | None) -> int | None:
    """An HTTP status to filter errors on (0: rows without one)."""
    if not value:
        return None
    if not value.isdigit() or int(value) > 599:
        raise FormError(said("form.status_invalid", value=value))
    return int(value)
