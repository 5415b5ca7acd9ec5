"""Buffer events, produce them in pipelined batches, and report which source positions the
acknowledgements release. Shared by both capture modes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from connectors.kafka.client import Producer
from connectors.kafka.errors import KafkaConnectorError
from schemas.event import ChangeEvent, KafkaRecord, now_ms, to_record
from streamer.capture.events import split_key_change
from streamer.metrics import Metrics


class EventBuffer:
    """Collects events and callbacks to run once every event added before them is acknowledged."""

    def __init__(self, producer: Producer, topic: str, metrics: Metrics, *, limit: int) -> None:
        self._producer, self._topic, self._metrics, self.limit = producer, topic, metrics, limit
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
        for one in split_key_change(event):
            self._records.append(to_record(one))
            self._commit_ts.append(one.source.ts_ms)
            self._ops[one.op] += 1

    def when_acked(self, callback: Callable[[], None]) -> None:
        """Run `callback` after the next flush succeeds (e.g. release a slot position)."""
        self._on_ack.append(callback)

    async def flush(self) -> int:
        """Produce everything buffered and wait for every acknowledgement; return the count."""
        records, n = self._records, len(self._records)
        if records:
            try:
                await self._producer.send_batch(self._topic, records)
            except KafkaConnectorError:
                self._metrics.produce_failed("capture")
                raise
            self._metrics.capture_acked(self._commit_ts, now_ms())
            for op, count in self._ops.items():
                self._metrics.changes_captured(op, count)
        for callback in self._on_ack:
            callback()
        self._records, self._commit_ts, self._ops, self._on_ack = [], [], Counter(), []
        return n
