"""The publish interface the endpoint speaks, and its Kafka implementation.

`publish(records)` returns only once Kafka has acknowledged every record (acks=all); otherwise it
raises `PublishUnavailable` (answer 503, the caller retries: a record may then be on Kafka twice,
which the applier's idempotent, last-writer-wins upsert absorbs) or `PublishRejected`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from connectors.kafka.client import Producer
from connectors.kafka.errors import KafkaConnectorError
from schemas.event import KafkaRecord
from streamer.webhook.errors import PublishRejected, PublishUnavailable


class Publisher(Protocol):
    async def publish(self, records: Sequence[KafkaRecord]) -> None:
        """Return once every record is acknowledged; raise PublishUnavailable or PublishRejected."""
        ...


class KafkaPublisher:
    """Publishes to one topic through a producer attached while the component runs.

    Until a producer is attached (Kafka unreachable at start) and once it is detached (shutting
    down), `publish` raises PublishUnavailable, so the endpoint answers 503 rather than accept."""

    def __init__(self, topic: str, *, timeout: float, retry_after: int) -> None:
        self.topic = topic
        self._timeout, self._retry_after = timeout, retry_after
        self._producer: Producer | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def connected(self) -> bool:
        return self._producer is not None

    def attach(self, producer: Producer) -> None:
        self._producer = producer

    def detach(self) -> None:
        self._producer = None

    async def drained(self) -> None:
        """Wait until no publish is in flight (before the producer is stopped)."""
        await self._idle.wait()

    async def publish(self, records: Sequence[KafkaRecord]) -> None:
        producer = self._producer
        if producer is None:
            raise PublishUnavailable("Kafka is not connected", retry_after=self._retry_after)
        self._in_flight += 1
        self._idle.clear()
        try:
            async with asyncio.timeout(self._timeout):
                await producer.send_batch(self.topic, records)
        except TimeoutError:
            raise PublishUnavailable(f"no acknowledgement within {self._timeout}s",
                                     retry_after=self._retry_after) from None
        except KafkaConnectorError as exc:
            if exc.retriable:
                raise PublishUnavailable(str(exc), retry_after=self._retry_after) from exc
            raise PublishRejected(str(exc)) from exc
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()
