"""Keyset paging of an export on literal dates and cursors."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from streamer.history.export import lock_key
from streamer.history.keyset import Cursor, count_query, day_progress, page_args, page_query, range_bounds

SP = "America/Sao_Paulo"


def test_range_covers_whole_days_in_the_zone() -> None:
    """[from 00:00, to + 1 day 00:00) in the configured zone: São Paulo is UTC-3."""
    lower, upper = range_bounds(date(2024, 1, 1), date(2024, 1, 31), SP)
    assert lower == datetime(2024, 1, 1, 3, tzinfo=UTC)
    assert upper == datetime(2024, 2, 1, 3, tzinfo=UTC)


def test_range_is_capped_at_the_jobs_start() -> None:
    """Rows written after the export began are left to the continuous sync."""
    started = datetime(2024, 1, 15, 10, tzinfo=UTC)
    assert range_bounds(date(2024, 1, 1), date(2024, 1, 31), "UTC", cap=started)[1] == started
    assert range_bounds(date(2024, 1, 1), date(2024, 1, 2), "UTC", cap=started)[1] == datetime(2024, 1, 3, tzinfo=UTC)


def test_range_cap_before_the_range_leaves_it_empty() -> None:
    """A range entirely in the future of the job's start holds nothing (upper == lower)."""
    lower, upper = range_bounds(date(2030, 1, 1), date(2030, 1, 2), "UTC", cap=datetime(2024, 1, 1, tzinfo=UTC))
    assert lower == upper


def test_reversed_range_is_refused() -> None:
    """An end before the start is an error, not an empty export."""
    with pytest.raises(ValueError, match="before"):
        range_bounds(date(2024, 2, 1), date(2024, 1, 1), "UTC")


def test_page_query_orders_by_date_then_id_and_compares_rows_after_a_cursor() -> None:
    """The first page has no cursor condition; later pages use the (date, id) row comparison."""
    first = page_query('"public"."leads"', "criado", after_cursor=False)
    later = page_query('"public"."leads"', "updated_at", after_cursor=True)
    assert "ORDER BY t.criado, t.id LIMIT $3" in first and "$4" not in first
    assert "(t.updated_at, t.id) > ($4, $5)" in later and "ORDER BY t.updated_at, t.id" in later


def test_unknown_date_field_is_refused_before_reaching_sql() -> None:
    """Only criado and updated_at can be interpolated into the query."""
    with pytest.raises(ValueError):
        page_query("leads", "name; DROP TABLE leads", after_cursor=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        count_query("leads", "id")  # type: ignore[arg-type]


def test_cursor_round_trips_through_json_with_microseconds() -> None:
    """The saved cursor restores the exact (date, id) key, microseconds included."""
    cursor = Cursor(datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=UTC), 42)
    assert Cursor.from_json(cursor.to_json()) == cursor
    assert Cursor.from_json(None) is None


def test_page_args_append_the_cursor_key_and_id() -> None:
    """$4 and $5 are the cursor's date and id."""
    lo, hi = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)
    assert page_args(lo, hi, 10, None) == (lo, hi, 10)
    assert page_args(lo, hi, 10, Cursor(lo, 7)) == (lo, hi, 10, lo, 7)


def test_day_progress_marks_the_days_before_the_current_row_complete() -> None:
    """Rows come in date order, so the day before the current row's day is complete."""
    assert day_progress(datetime(2024, 1, 3, 1, tzinfo=UTC), date(2024, 1, 1), "UTC") == (
        date(2024, 1, 3), date(2024, 1, 2))
    assert day_progress(datetime(2024, 1, 1, 5, tzinfo=UTC), date(2024, 1, 1), "UTC") == (date(2024, 1, 1), None)


def test_day_progress_uses_the_configured_zone() -> None:
    """01:00 UTC on the 3rd is still the 2nd in São Paulo."""
    current, _ = day_progress(datetime(2024, 1, 3, 1, tzinfo=ZoneInfo("UTC")), date(2024, 1, 1), SP)
    assert current == date(2024, 1, 2)


def test_lock_key_is_a_signed_64_bit_integer_stable_per_job() -> None:
    """PostgreSQL's advisory locks take a bigint: the key fits, and the same job gets the same key."""
    key = lock_key("ffffffff-ffff-ffff-0000-000000000000")
    assert -(2**63) <= key < 2**63 and key == -1
    assert lock_key("00000000-0000-0001-ffff-ffffffffffff") == 1
