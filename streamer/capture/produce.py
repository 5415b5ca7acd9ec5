"""Buffer events, produce them in pipelined batches, and report which source positions the
acknowledgements release. Shared by both capture modes."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable

from connectors.kafka.client import Producer
from connectors.kafka.errors import KafkaConnectorError
from schemas.debezium import Encoder, EncoderOptions
from schemas.event import ChangeEvent, KafkaRecord, now_ms
from streamer.capture.events import split_key_change
from streamer.metrics import Metrics


class EventBuffer:
    """Collects events and callbacks to run once every event added before them is acknowledged.

    Events become records through `encoder` (the topic's event format, schemas/debezium.py); in
    the debezium format a delete is two records, the event and its tombstone."""

    def __init__(self, producer: Producer, topic: str, metrics: Metrics, *, limit: int,
                 encoder: Encoder | None = None) -> None:
        self._producer, self._topic, self._metrics, self.limit = producer, topic, metrics, limit
        self.encoder = encoder or Encoder(EncoderOptions(name=topic.split(".", 1)[0]))
        self._records: list[KafkaRecord] = []
        self._commit_ts: list[int] = []
        self._ops: Counter[str] = Counter()
        self._on_ack: list[Callable[[], None]] = []

    def __len__(self) -> int:
        return len(self._records)

    @property
    def full(self) -> bool:
        return len(self._records) >= self.limit

    def add(self, event: ChangeEvent) -> None:
        if event.op != "u":  # only an update can change the key: no list for the others
            self._append(event)
            return
        for one in split_key_change(event):
            self._append(one)

    def _append(self, event: ChangeEvent) -> None:
        self._records += self.encoder.records(event)
        self._commit_ts.append(event.source.ts_ms)
        self._ops[event.op] += 1

    @property
    def has_callbacks(self) -> bool:
        return bool(self._on_ack)

    def when_acked(self, callback: Callable[[], None]) -> None:
        """Run `callback` after the next flush succeeds (e.g. release a slot position)."""
        self._on_ack.append(callback)

    async def flush(self) -> int:
        """Produce everything buffered and wait for every acknowledgement; return the count."""
        return await flush_together([self])

    def _acked(self, at_ms: int) -> None:
        if self._records:
            self._metrics.capture_acked(self._commit_ts, at_ms)
            for op, count in self._ops.items():
                self._metrics.changes_captured(op, count)
        for callback in self._on_ack:
            callback()
        self._records, self._commit_ts, self._ops, self._on_ack = [], [], Counter(), []


async def flush_together(buffers: list[EventBuffer]) -> int:
    """Produce the records of `buffers` (one producer and topic), in order, as one send, and wait
    for every acknowledgement; then run each buffer's callbacks, in order. Return the count."""
    first = buffers[0]
    records = first._records if len(buffers) == 1 else [r for b in buffers for r in b._records]
    if records:
        try:
            await first._producer.send_batch(first._topic, records)
        except KafkaConnectorError:
            first._metrics.produce_failed("capture")
            raise
    at = now_ms()
    for buffer in buffers:
        buffer._acked(at)
    return len(records)


class ProducePipeline:
    """Produces `EventBuffer`s on a task of its own, one after another in the order given, while
    the caller goes on reading and decoding the next one (docs/design.md, Delivery: positions
    still move only after the acknowledgement, through each buffer's `when_acked` callbacks).

    Batches are sent one at a time so a lead's events keep their order (aiokafka appends records
    to its per-partition batches in call order; two sends interleaving could swap a lead's
    events); at most `depth` wait behind the one in flight, so memory stays bounded and a slow
    Kafka slows the reader down, and those that waited leave together, in order, as the next
    send. A failed send fails the pipeline: `submit` and `check` raise it."""

    def __init__(self, depth: int) -> None:
        self._queue: asyncio.Queue[EventBuffer] = asyncio.Queue(maxsize=depth)
        self._sender: asyncio.Task[None] | None = None
        self._busy = 0  # batches queued or in flight

    async def __aenter__(self) -> ProducePipeline:
        self._sender = asyncio.create_task(self._send())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._sender is not None
        self._sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, KafkaConnectorError):
            await self._sender

    @property
    def idle(self) -> bool:
        """Nothing queued or in flight."""
        return self._busy == 0

    async def _send(self) -> None:
        """Send what waits: the buffers queued while the last send waited for its acknowledgements
        go together, as one send (one wait for acknowledgements instead of one each)."""
        while True:
            buffers = [await self._queue.get()]
            while not self._queue.empty():
                buffers.append(self._queue.get_nowait())
            await flush_together(buffers)
            for _ in buffers:
                self._busy -= 1
                self._queue.task_done()

    def check(self) -> None:
        """Raise the failure that ended the sender, if any."""
        assert self._sender is not None
        if self._sender.done():
            self._sender.result()
            raise RuntimeError("the capture's producer task ended")

    async def submit(self, buffer: EventBuffer, *, waiting: Callable[[], None], every: float) -> None:
        """Queue `buffer` (unless it holds neither records nor callbacks); while the queue is
        full, call `waiting()` every `every` seconds (the protocol reader keeps its status fresh)."""
        if not len(buffer) and not buffer.has_callbacks:
            return
        while True:
            self.check()
            self._busy += 1
            try:
                await asyncio.wait_for(self._queue.put(buffer), every)
                return
            except TimeoutError:
                self._busy -= 1
                waiting()

    async def drain(self, *, waiting: Callable[[], None], every: float) -> None:
        """Wait until everything submitted is acknowledged; raise if the sender failed."""
        assert self._sender is not None
        joined = asyncio.ensure_future(self._queue.join())
        try:
            while not joined.done():
                done, _ = await asyncio.wait({joined, self._sender}, timeout=every,
                                             return_when=asyncio.FIRST_COMPLETED)
                self.check()
                if not done:
                    waiting()
        finally:
            joined.cancel()
