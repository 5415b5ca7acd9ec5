"""Pure keyset logic of an export: the date range's bounds, the page query, the cursor.

An export walks the source rows of a date range in `(date_field, id)` order, one page at a time,
and saves the last `(date, id)` Kafka acknowledged. The next page starts strictly after it, so a
restart re-produces at most the page that was in flight (at least once, docs/design.md, Delivery).

The range is `[from 00:00, to + 1 day 00:00)` in the configured time zone, capped at the job's
start: rows created or edited after the export began are the continuous sync's business, and
capping keeps an edited lead (whose `updated_at` jumps to now) from being produced twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

DateField = Literal["criado", "updated_at"]
DATE_FIELDS: tuple[DateField, ...] = ("criado", "updated_at")


@dataclass(frozen=True, slots=True)
class Cursor:
    """The last row acknowledged: its date field's value and its id."""

    key: datetime
    id: int

    def to_json(self) -> dict[str, Any]:
        return {"date": self.key.isoformat(), "id": self.id}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Cursor | None:
        if not data:
            return None
        return cls(datetime.fromisoformat(data["date"]), int(data["id"]))


def range_bounds(start: date, end: date, tz: str, cap: datetime | None = None) -> tuple[datetime, datetime]:
    """`[start 00:00, end + 1 day 00:00)` in `tz`, the upper end capped at `cap` (the job's start).

    >>> range_bounds(date(2024, 1, 1), date(2024, 1, 31), "UTC")[1].isoformat()
    '2024-02-01T00:00:00+00:00'
    """
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    zone = ZoneInfo(tz)
    lower = datetime.combine(start, time(), zone)
    upper = datetime.combine(end + timedelta(days=1), time(), zone)
    if cap is not None and cap < upper:
        upper = max(cap, lower)
    return lower, upper


def page_query(table: str, date_field: DateField, *, after_cursor: bool) -> str:
    """The page's SQL: $1 lower, $2 upper, $3 limit, then ($4 key, $5 id) when after a cursor.

    `table` must be quoted already; the row comparison `(f, id) > ($4, $5)` uses the `(f, id)` index."""
    if date_field not in DATE_FIELDS:
        raise ValueError(f"date field must be one of {DATE_FIELDS}, not {date_field!r}")
    after = f" AND (t.{date_field}, t.id) > ($4, $5)" if after_cursor else ""
    return (f"SELECT t.id, t.{date_field} AS k, row_to_json(t)::text AS row FROM {table} t "
            f"WHERE t.{date_field} >= $1 AND t.{date_field} < $2{after} "
            f"ORDER BY t.{date_field}, t.id LIMIT $3")


def count_query(table: str, date_field: DateField) -> str:
    """How many rows the range holds: the job's `total_leads` at start."""
    if date_field not in DATE_FIELDS:
        raise ValueError(f"date field must be one of {DATE_FIELDS}, not {date_field!r}")
    return f"SELECT count(*) FROM {table} t WHERE t.{date_field} >= $1 AND t.{date_field} < $2"


def page_args(lower: datetime, upper: datetime, limit: int, cursor: Cursor | None) -> tuple[Any, ...]:
    """The parameters `page_query` expects, in order."""
    base: tuple[Any, ...] = (lower, upper, limit)
    return base if cursor is None else (*base, cursor.key, cursor.id)


def day_progress(last_key: datetime, start: date, tz: str) -> tuple[date, date | None]:
    """(processing_date, last_completed_date) once the row at `last_key` is acknowledged.

    Rows come in date order, so every day before the current row's day is complete.

    >>> day_progress(datetime(2024, 1, 3, 10, tzinfo=ZoneInfo("UTC")), date(2024, 1, 1), "UTC")
    (datetime.date(2024, 1, 3), datetime.date(2024, 1, 2))
    """
    current = last_key.astimezone(ZoneInfo(tz)).date()
    done = current - timedelta(days=1)
    return current, (done if done >= start else None)
