"""Kafka errors, translated at the connector boundary.

    KafkaConnectorError      root (a `connectors.errors.ConnectorError`); `retriable` copied from
                             aiokafka's classification
    ├── KafkaUnavailable     no broker answered (connection refused, timeouts): retriable
    ├── KafkaGroupChanged    the consumer group moved on without us (a rebalance or an eviction
    │                        failed our commit): retriable, by joining again
    └── KafkaRejected        the broker refused the request (auth, invalid topic, too large)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aiokafka import errors as ak

from connectors.errors import ConnectorError


class KafkaConnectorError(ConnectorError):
    """Root of the connector's errors; `retriable=` overrides the class default per failure."""


class KafkaUnavailable(KafkaConnectorError):
    retriable = True


class KafkaGroupChanged(KafkaConnectorError):
    retriable = True


class KafkaRejected(KafkaConnectorError):
    pass


# aiokafka marks these not retriable, and for the one call they are; a consumer that starts over
# (joins the group again, reads from the committed offsets) recovers from each.
_GROUP_CHANGED = (ak.CommitFailedError, ak.RebalanceInProgressError, ak.UnknownMemberIdError,
                  ak.IllegalGenerationError)


@contextmanager
def translate_kafka_errors(action: str) -> Iterator[None]:
    """Re-raise aiokafka's errors as ours, naming what we were doing."""
    try:
        yield
    except (ak.KafkaConnectionError, ak.NoBrokersAvailable, ak.KafkaTimeoutError,
            ak.RequestTimedOutError) as exc:
        raise KafkaUnavailable(f"{action}: Kafka unavailable ({type(exc).__name__})") from exc
    except _GROUP_CHANGED as exc:
        raise KafkaGroupChanged(f"{action}: the consumer group changed ({type(exc).__name__})") from exc
    except ak.KafkaError as exc:
        retriable = bool(getattr(exc, "retriable", False))
        cls = KafkaUnavailable if retriable else KafkaRejected
        raise cls(f"{action}: {type(exc).__name__}: {exc}", retriable=retriable) from exc
