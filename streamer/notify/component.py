"""The `notify` component: every `notify.poll_seconds` it reads the jobs and error tables and
the readiness of the components beside it, gathers notices, and mails those the rate limit lets
through (docs/notifications.md). A relay that fails is logged (never with the password), counted
(`streamer_notify_emails_total{outcome="failed"}`) and tried again `retry_seconds` later; the
service goes on. The source database going away pauses the table watchers, not the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from contextlib import AsyncExitStack

import asyncpg

from connectors.postgres import slot as pg
from connectors.postgres.errors import PostgresError
from streamer.config import Settings
from streamer.errors import ConfigError
from streamer.lifecycle import wait_until_set
from streamer.logging import get_logger
from streamer.metrics import Metrics
from streamer.notify import smtp
from streamer.notify.message import Item, Kind, compose
from streamer.notify.outbox import Outbox
from streamer.notify.watch import ErrorRows, FailedJobs, NotReady, Readiness

log = get_logger(__name__)


class NotifyComponent:
    name = "notify"

    def __init__(self, settings: Settings, metrics: Metrics, *, readiness: Readiness | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        n = settings.notify
        problems = n.problems()
        if problems:  # before anything starts: `streamer run` exits 2 with one line each
            raise ConfigError(problems)
        self.settings, self.metrics, self.clock = settings, metrics, clock
        self.readiness: Readiness = readiness or dict
        self.outbox = Outbox(n.min_interval_seconds, n.retry_seconds)
        self.jobs = FailedJobs()
        self.errors = ErrorRows(n.error_threshold, n.error_window_seconds)
        self.not_ready = NotReady(n.sink_blocked_after_seconds)
        self.ticks = 0  # rounds done (tests wait on it rather than on time)
        self._conn: asyncpg.Connection | None = None
        self._closer: AsyncExitStack | None = None
        self._started = False

    def watch(self, readiness: Readiness) -> None:
        """Watch these components' readiness (the wiring hands over those of this process)."""
        self.readiness = readiness

    def ready(self) -> bool:
        return self._started

    async def run(self, stopping: asyncio.Event) -> None:
        if "sink_blocked" in self.settings.notify.events and "sink" not in self.readiness():
            log.warning("no sink in this process: a blocked sink will not be mailed (run notify beside the sink, "
                        "docs/notifications.md)")
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self._disconnect)
            self._started = True
            while not stopping.is_set():
                await self.tick()
                await wait_until_set(stopping, self.settings.notify.poll_seconds)

    async def tick(self) -> None:
        """One round: watch, gather, mail what is due."""
        events = self.settings.notify.events
        if "job_failed" in events or "errors" in events:
            await self._watch_tables(events)
        if "sink_blocked" in events:
            self._gather("sink_blocked", list(self.not_ready.poll(self.readiness(), self.clock())))
        await self.flush()
        self.ticks += 1

    async def _watch_tables(self, events: tuple[str, ...]) -> None:
        try:
            conn = await self._connection()
            if "job_failed" in events:
                self._gather("job_failed", list(await self.jobs.poll(conn)))
            if "errors" in events:
                burst = await self.errors.poll(conn)
                self._gather("errors", [burst] if burst else [])
        except (PostgresError, OSError, asyncpg.PostgresError) as exc:
            log.warning("notifier cannot read the source database, trying again next round", error=str(exc))
            await self._disconnect()

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            stack = AsyncExitStack()
            conn = await stack.enter_async_context(pg.connect(self.settings.source.dsn.get_secret_value()))
            self._closer = stack
            if self.jobs.after is None:
                await self.jobs.start(conn)
                await self.errors.start(conn)
            self._conn = conn
        return self._conn

    async def _disconnect(self) -> None:
        closer, self._conn, self._closer = self._closer, None, None
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer.aclose()

    def _gather(self, kind: Kind, items: list[Item]) -> None:
        if items and self.outbox.add(kind, items):
            self.metrics.notify_email(kind, "suppressed")

    async def flush(self) -> None:
        n = self.settings.notify
        for kind, items, suppressed in self.outbox.due(self.clock()):
            mail = compose(kind, items, suppressed=suppressed, prefix=n.subject_prefix, zone=n.timezone)
            try:
                await smtp.send(n, mail)
            except Exception as exc:  # nothing a relay does may stop the service
                reason = str(exc) if isinstance(exc, smtp.NotifyError) else f"unexpected {type(exc).__name__}"
                self.outbox.failed(kind, self.clock())
                self.metrics.notify_email(kind, "failed")
                log.warning("notification not sent, will try again", kind=kind, error=reason,
                            retry_in=n.retry_seconds)
                continue
            self.outbox.sent(kind, self.clock())
            self.metrics.notify_email(kind, "sent")
            log.info("notification sent", kind=kind, recipients=len(n.recipients), folded=suppressed)
