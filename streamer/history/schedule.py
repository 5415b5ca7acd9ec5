"""Scheduled exports (the seed's roadmap: "sincronização automática agendada (cron)").

At each fire time of `history.schedule` the exporter creates one export job over the last
`schedule_window_days` days by `schedule_date_field`. A unique index on `scheduled_for` makes
the creation idempotent across exporters and restarts; a fire time missed while the service was
down still runs if it is less than `schedule_misfire_seconds` old.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter  # type: ignore[import-untyped]


def due_fire_time(expression: str, now: datetime, misfire: timedelta, tz: str = "UTC") -> datetime | None:
    """The latest fire time at or before `now`, if it is at most `misfire` old; else None.

    Fire times are computed in `tz` (a "0 3 * * *" schedule means 03:00 there).

    >>> due_fire_time("0 3 * * *", datetime(2024, 5, 2, 3, 10, tzinfo=ZoneInfo("UTC")), timedelta(hours=1))
    datetime.datetime(2024, 5, 2, 3, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC'))
    """
    local_now = now.astimezone(ZoneInfo(tz))
    # croniter's get_prev is strictly before its start: start one second later to include `now`.
    previous: datetime = croniter(expression, local_now + timedelta(seconds=1)).get_prev(datetime)
    if local_now - previous > misfire:
        return None
    return previous


def window(fire_time: datetime, days: int, tz: str = "UTC") -> tuple[date, date]:
    """The date range a scheduled job exports: the `days` days ending on the fire time's date.

    >>> window(datetime(2024, 5, 2, 3, tzinfo=ZoneInfo("UTC")), 2)
    (datetime.date(2024, 5, 1), datetime.date(2024, 5, 2))
    """
    end = fire_time.astimezone(ZoneInfo(tz)).date()
    return end - timedelta(days=days - 1), end
