"""Capture mode `replication` on the streaming replication protocol (the default reader):
START_REPLICATION on the pgoutput slot, decoded and produced pipelined, the slot confirmed only
past what Kafka acknowledged.

    walsender ──XLogData──► read_available ─► decode ─► assemble ─► EventBuffer ─┐ (reader task)
        ▲                                                                          ▼ bounded queue
        └──── standby status update (flushed = AckTracker.safe_lsn) ◄── acks ◄── ProducePipeline

While the producer sends one batch and waits for its acknowledgements, the reader decodes the
next (`produce.ProducePipeline`: batches go one at a time, in order, `produce_queue` wait behind
it). Each acknowledgement releases its transactions in the `AckTracker`, and the highest safe
commit end becomes the position to confirm (`connectors/postgres/stream.py` keeps the rule
that nothing received but unacknowledged is ever confirmed).

Status updates are paced (`ConfirmPacer`): at most one that moves the slot per
`confirm_interval_ms` (1 s), carrying the highest acknowledged position, and a last one when
stopping. Each update wakes the source's walsender to read and apply it, and the walsender then
pings back before its next sleep; one per acknowledged transaction was more than one extra
wake-up of the walsender per change at a steady 200 single-change transactions/s, about a third
of its CPU. Debezium confirms on its offset commits (1 s in the benchmark's worker). The slot
trails Kafka's acknowledgements by at most the interval (plus one pass of the loop, `WAKE_EVERY`):
what a SIGKILL makes the server send again is that much more, duplicates only.

While changes flow, the reader reads the socket every `stream_poll_ms` (10 ms) instead of
waiting for it to become readable (`polling`): a reader blocked on the socket is woken by each
message the walsender sends (BEGIN, change, COMMIT), and the wake-up is the walsender's CPU.
`POLL_WHILE` (0.1 s) after the last message it waits on the socket again, so a quiet capture
does not spin. A small gain, measured on a loaded machine: at 200 single-change transactions/s
a bare psycopg2 reader polling every 10 ms cost the walsender 1.11–1.22 s per 10k changes
against 1.24–1.71 s for one woken per message (3 alternated rounds, load average 10–12); this
capture, 1.34 s against 1.44 s (medians of 5 alternated rounds, load average 7–11). A change
waits at most one tick longer before it is read.

Idle: no SQL touches the slot. The walsender's keepalives are answered (at once when they ask
for a reply, else with psycopg2's status every `status_interval_seconds`); when nothing is
unacknowledged and no transaction is half read, the keepalive's WAL end is confirmed, so a quiet
table pins no WAL even while other tables or databases write (docs/cdc-failure-modes.md §2,
point 1): no heartbeat messages are needed on this path. Two light catalog reads remain, every
15 s: the slot gauges and the table's write counter.

Why the protocol, by measurement (`scripts/bench_capture.py --changes 30000 --paced-seconds 20`, 2-core machine
shared with other work; the README's capture section has the whole table):

    path                                   events/s   source CPU s / 10k events
    backlog of 30,000, protocol reader        9,833     0.07
    backlog of 30,000, SQL reader             8,538     0.11
    paced 200 changes/s, protocol reader          -     1.55
    paced 200 changes/s, SQL reader               -    20.50

The SQL reader (`replication.py`, the fallback) starts a logical decoding on every poll; the
walsender decodes each change once. Draining a backlog, this process's CPU is the limit
(≈ 0.09 ms per event) for either reader.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import asyncpg

from connectors.postgres.assembler import AckTracker, TransactionAssembler
from connectors.postgres.pgoutput import decode
from connectors.postgres.stream import ReplicationConnection
from streamer.capture.produce import EventBuffer, ProducePipeline
from streamer.capture.replication import ReplicationSource
from streamer.logging import get_logger
from streamer.metrics import Metrics
from streamer.sections import SourceSettings

REPORT_EVERY = 15.0  # seconds between the slot gauges' refreshes (one catalog read)
WAKE_EVERY = 1.0  # seconds: the longest the reader sleeps without checking its lock and stop flag
POLL_WHILE = 0.1  # seconds after the last message read during which the reader polls (`polling`)


def polling(last_data: float, now: float, tick: float) -> bool:
    """Whether the reader, finding nothing to read, sleeps `tick` and reads again (True) rather
    than waiting for the socket to become readable: while changes flow, i.e. within
    `POLL_WHILE` seconds of the last read that found some. A reader blocked on the socket is
    woken by the walsender for each message it sends, at the walsender's CPU cost; one that reads
    every tick is not."""
    return tick > 0 and now - last_data < POLL_WHILE


class ConfirmPacer:
    """When to send which acknowledged position as the slot's flushed one (pure; the caller
    passes the clock and what was last sent): the highest released position, at most once per
    `interval` seconds unless forced."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.released = 0  # the highest position safe to confirm (all before it acknowledged)
        self._sent_at: float | None = None

    def release(self, lsn: int) -> None:
        self.released = max(self.released, lsn)

    def due(self, now: float, confirmed: int, *, force: bool = False) -> int | None:
        """The position to send now (`confirmed` is the last one sent), or None."""
        if self.released <= confirmed:
            return None
        if not force and self._sent_at is not None and now - self._sent_at < self.interval:
            return None
        return self.released

    def sent(self, now: float) -> None:
        self._sent_at = now


class StreamSource:
    """Reads the slot over a replication connection; `prepare` and the gauges are the SQL
    source's (the publication and slot are created over the ordinary connection)."""

    reader = "protocol"

    def __init__(self, conn: asyncpg.Connection, settings: SourceSettings, metrics: Metrics) -> None:
        self.settings, self.metrics = settings, metrics
        self.base = ReplicationSource(conn, settings, metrics)
        self.log = get_logger(__name__, slot=settings.slot)
        self.stream: ReplicationConnection | None = None
        self.pacer = ConfirmPacer(settings.confirm_interval_ms / 1000)

    @property
    def name(self) -> str:
        return self.settings.slot

    async def prepare(self) -> None:
        await self.base.prepare()

    async def connect(self) -> None:
        """Open the replication connection (raises `ReplicationRefused` where the server takes
        none from this role or host); streaming starts later, in `run`, after any snapshot."""
        self.stream = await ReplicationConnection.open(self.settings.dsn.get_secret_value(),
                                                       setting="STREAMER_SOURCE__DSN")

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()

    async def report(self) -> None:
        await self.base.report(every=REPORT_EVERY)

    def confirm(self, lsn: int) -> None:
        """Send `lsn` (acknowledged by Kafka) as the slot's flushed position: one status update."""
        assert self.stream is not None
        self.stream.confirm(lsn)

    def release(self, lsn: int) -> None:
        """Everything before `lsn` is acknowledged: confirm it now, or once the pacer allows."""
        self.pacer.release(lsn)
        self.confirm_due()

    def confirm_due(self, *, force: bool = False) -> None:
        """Send the released position if the pacer says it is time (always, with `force`)."""
        assert self.stream is not None
        lsn = self.pacer.due(time.monotonic(), self.stream.confirmed, force=force)
        if lsn is not None:
            self.confirm(lsn)
            self.pacer.sent(time.monotonic())

    async def run(self, new_buffer: Callable[[], EventBuffer], stopping: asyncio.Event,
                  check_alive: Callable[[], None]) -> None:
        """Stream until `stopping` is set, then produce what was read and confirm it."""
        s, stream = self.settings, self.stream
        assert stream is not None
        await stream.start(s.slot, s.publication, status_interval=s.status_interval_seconds)
        self.log.info("streaming", reader="protocol", walsender_pid=stream.pid)
        tracker, assembler = AckTracker(), TransactionAssembler(max_records=s.produce_batch)
        every, tick = s.status_interval_seconds, s.stream_poll_ms / 1000
        last_data = float("-inf")  # when the last read found messages
        last_complete = 0  # the end LSN of the last whole unit (transaction, message) read
        progress = asyncio.Event()

        def acked(token: int) -> None:
            tracker.acked(token)
            safe = tracker.safe_lsn()
            if safe is not None:
                self.release(safe)
            progress.set()

        stop_wait = asyncio.ensure_future(stopping.wait())
        buffer = new_buffer()
        try:
            async with ProducePipeline(s.produce_queue) as pipe:
                while not stopping.is_set():
                    pipe.check()
                    check_alive()
                    self.confirm_due()
                    await self.report()
                    unacked = (tracker.safe_lsn() or 0) < last_complete
                    if not stream.may_read(unacked):
                        # A keepalive read now could confirm a whole transaction Kafka has not
                        # acknowledged (stream.py): send what is buffered and wait for the acks.
                        progress.clear()
                        await pipe.submit(buffer, waiting=stream.send_status, every=every)
                        buffer = new_buffer()
                        await self._wait(progress.wait(), stop_wait, stream.send_status)
                        continue
                    messages = stream.read_available(s.produce_batch)
                    if not messages:
                        if len(buffer) or buffer.has_callbacks:
                            await pipe.submit(buffer, waiting=stream.send_status, every=every)
                            buffer = new_buffer()
                        elif pipe.idle and tracker.pending == 0 and not assembler.in_transaction:
                            # Everything read is acknowledged: the WAL end of the last keepalive
                            # holds nothing of ours, so the slot may move there (point 1).
                            self.release(stream.wal_end)
                        if polling(last_data, time.monotonic(), tick):
                            await asyncio.wait({stop_wait}, timeout=tick)
                        else:
                            await self._wait(stream.wait_readable(), stop_wait, None)
                        continue
                    last_data = time.monotonic()
                    for lsn, data in messages:
                        for unit in assembler.feed(decode(data), lsn):
                            token = tracker.sent(unit)
                            for record in unit.records:
                                self.base.add(record, buffer)
                            buffer.when_acked(lambda t=token: acked(t))  # type: ignore[misc]
                            if unit.is_last and unit.end_lsn is not None:
                                last_complete = unit.end_lsn
                            if buffer.full:
                                await pipe.submit(buffer, waiting=stream.send_status, every=every)
                                buffer = new_buffer()
                # Stopping (SIGTERM): what was read is produced and confirmed before leaving.
                await pipe.submit(buffer, waiting=stream.send_status, every=every)
                await pipe.drain(waiting=stream.send_status, every=every)
                self.confirm_due(force=True)
        finally:
            stop_wait.cancel()

    @staticmethod
    async def _wait(what: object, stop_wait: asyncio.Future[Any],
                    on_timeout: Callable[[], None] | None) -> None:
        task = asyncio.ensure_future(what)  # type: ignore[call-overload]
        try:
            done, _ = await asyncio.wait({task, stop_wait}, timeout=WAKE_EVERY,
                                         return_when=asyncio.FIRST_COMPLETED)
            if not done and on_timeout is not None:
                on_timeout()
        finally:
            task.cancel()
