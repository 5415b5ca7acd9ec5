"""The `verify` component: compares source and destination at each fire time of `verify.schedule`.

It sets `streamer_verify_mismatched_leads{kind}` and `streamer_verify_last_run_timestamp_seconds`
after each run (the alert `LeadsMismatched` fires on the first), logs the counts and the first
ids, and with `verify.repair_on_schedule` files a repair job for what is missing or different
(extra leads are never deleted by the schedule). Several instances may run the component: a
session advisory lock on the source lets one of them run each fire time. A failed run is logged
and retried at the next fire time; the gauges keep the last finished run's numbers.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter  # type: ignore[import-untyped]

from connectors.errors import ConnectorError
from connectors.postgres import slot as pg
from streamer.config import Settings
from streamer.errors import StreamerError
from streamer.lifecycle import wait_until_set
from streamer.logging import get_logger
from streamer.metrics import Metrics
from streamer.verify.run import Result, verify

log = get_logger(__name__)
LOCK_KEY = 0x5EED_0018  # one scheduled verification at a time across instances


def due_fire_time(expression: str, now: datetime, misfire: timedelta, tz: str = "UTC") -> datetime | None:
    """The latest fire time at or before `now`, if it is at most `misfire` old; else None.

    >>> from datetime import UTC
    >>> due_fire_time("30 4 * * *", datetime(2024, 5, 2, 4, 40, tzinfo=UTC), timedelta(hours=1))
    datetime.datetime(2024, 5, 2, 4, 30, tzinfo=zoneinfo.ZoneInfo(key='UTC'))
    """
    local_now = now.astimezone(ZoneInfo(tz))
    previous: datetime = croniter(expression, local_now + timedelta(seconds=1)).get_prev(datetime)
    return None if local_now - previous > misfire else previous


class VerifyComponent:
    name = "verify"

    def __init__(self, settings: Settings, metrics: Metrics, *, poll_seconds: float = 20.0) -> None:
        self.settings, self.metrics, self.poll_seconds = settings, metrics, poll_seconds
        self._last_fire: datetime | None = None
        self.runs = 0

    def ready(self) -> bool:
        return True  # nothing to serve: a failed run is logged and the next fire time tries again

    async def run(self, stopping: asyncio.Event) -> None:
        if self.settings.verify.schedule is None:
            log.warning("verify component without a schedule (STREAMER_VERIFY__SCHEDULE): it does nothing")
            await stopping.wait()
            return
        while not stopping.is_set():
            await self.tick(datetime.now(ZoneInfo("UTC")))
            await wait_until_set(stopping, self.poll_seconds)

    async def tick(self, now: datetime) -> Result | None:
        """Run the verification of a due fire time not run yet here; its result, or None."""
        v = self.settings.verify
        assert v.schedule is not None
        fire = due_fire_time(v.schedule, now, timedelta(seconds=v.schedule_misfire_seconds), v.timezone)
        if fire is None or fire == self._last_fire:
            return None
        self._last_fire = fire
        try:
            return await self.run_once(fire)
        except (ConnectorError, StreamerError, OSError) as exc:
            log.error("scheduled verify failed", fire_time=fire.isoformat(), error=str(exc))
            return None

    async def run_once(self, fire: datetime | None = None) -> Result | None:
        """One verification under the lock (None when another instance holds it), metrics set."""
        async with pg.connect(self.settings.source.dsn.get_secret_value()) as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1::bigint)", LOCK_KEY):
                log.info("another instance is verifying", fire_time=fire and fire.isoformat())
                return None
            try:
                if self.settings.verify.repair_on_schedule:
                    from streamer.verify.repair import verify_and_repair

                    result, repair, _ = await verify_and_repair(self.settings, actor="scheduler")
                    if repair.job is not None:
                        log.info("repair job filed", job_id=repair.job.id, **repair.filed)
                else:
                    result = await verify(self.settings)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1::bigint)", LOCK_KEY)
        found = result.found
        self.metrics.verify_finished(found.missing, found.extra, found.different, result.seconds)
        self.runs += 1
        log.info("scheduled verify", missing=found.missing, extra=found.extra, different=found.different,
                 first_missing=found.first_missing, first_extra=found.first_extra,
                 first_different=found.first_different)
        return result
