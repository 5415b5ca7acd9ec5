"""Kafka errors, translated at the connector boundary.

    KafkaConnectorError      root; `retriable` copied from aiokafka's classification
    ├── KafkaUnavailable     no broker answered (connection refused, timeouts): retriable
    └── KafkaRejected        the broker refused the request (auth, invalid topic, too large)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aiokafka import errors as ak


class KafkaConnectorError(Exception):
    retriable = False

    def __init__(self, message: str, *, retriable: bool | None = None) -> None:
        super().__init__(message)
        if retriable is not None:
            self.retriable = retriable


class KafkaUnavailable(KafkaConnectorError):
    retriable = True


class KafkaRejected(KafkaConnectorError):
    pass


@contextmanager
def translate_kafka_errors(action: str) -> Iterator[None]:
    """Re-raise aiokafka's errors as ours, naming what we were doing."""
    try:
        yield
    except (ak.KafkaConnectionError, ak.NoBrokersAvailable, ak.KafkaTimeoutError,
            ak.RequestTimedOutError) as exc:
        raise KafkaUnavailable(f"{action}: Kafka unavailable ({type(exc).__name__})") from exc
    except ak.KafkaError as exc:
        retriable = bool(getattr(exc, "retriable", False))
        cls = KafkaUnavailable if retriable else KafkaRejected
        raise cls(f"{action}: {type(exc).__name__}: {exc}", retriable=retriable) from exc
