"""Scheduled exports: due fire times and windows on literal clocks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from streamer.history.schedule import due_fire_time, window
from streamer.state.failures import parse_duration

HOUR = timedelta(hours=1)


def test_the_latest_fire_time_is_due_within_the_misfire_grace() -> None:
    """At 03:10 a daily 03:00 schedule is due (fired 10 minutes ago)."""
    assert due_fire_time("0 3 * * *", datetime(2024, 5, 2, 3, 10, tzinfo=UTC), HOUR) == datetime(
        2024, 5, 2, 3, tzinfo=UTC)


def test_a_fire_time_exactly_now_is_due() -> None:
    """croniter's get_prev is strict; the fire time equal to now still counts."""
    assert due_fire_time("0 3 * * *", datetime(2024, 5, 2, 3, tzinfo=UTC), HOUR) == datetime(2024, 5, 2, 3, tzinfo=UTC)


def test_a_fire_time_older_than_the_grace_is_not_due() -> None:
    """At 10:00 the 03:00 fire is long past: no job (a service started late does not catch up)."""
    assert due_fire_time("0 3 * * *", datetime(2024, 5, 2, 10, tzinfo=UTC), HOUR) is None


def test_fire_times_are_computed_in_the_configured_zone() -> None:
    """03:00 in São Paulo is 06:00 UTC."""
    fire = due_fire_time("0 3 * * *", datetime(2024, 5, 2, 6, 5, tzinfo=UTC), HOUR, "America/Sao_Paulo")
    assert fire is not None and fire.astimezone(UTC) == datetime(2024, 5, 2, 6, tzinfo=UTC)


def test_window_covers_the_days_ending_on_the_fire_date() -> None:
    """A 1-day window is the fire date; 7 days reach back six more."""
    fire = datetime(2024, 5, 2, 3, tzinfo=UTC)
    assert window(fire, 1) == (date(2024, 5, 2), date(2024, 5, 2))
    assert window(fire, 7) == (date(2024, 4, 26), date(2024, 5, 2))


def test_durations_for_the_purge() -> None:
    """90d is the seed's retention; other units work too and zero or garbage is refused."""
    assert parse_duration("90d") == timedelta(days=90)
    assert parse_duration(" 12h ") == timedelta(hours=12)
    assert parse_duration("2W") == timedelta(weeks=2)
    for bad in ("0d", "90", "d", "-1d", "1y"):
        try:
            parse_duration(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted")
