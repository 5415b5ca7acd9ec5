"""aiokafka's errors, translated at the connector boundary into what a component can act on."""

from __future__ import annotations

import pytest
from aiokafka import errors as ak

from connectors.kafka.errors import (
    KafkaConnectorError,
    KafkaGroupChanged,
    KafkaRejected,
    KafkaUnavailable,
    translate_kafka_errors,
)


def translated(exc: Exception) -> KafkaConnectorError:
    with pytest.raises(KafkaConnectorError) as caught, translate_kafka_errors("commit offsets"):
        raise exc
    return caught.value


@pytest.mark.parametrize("exc", [ak.CommitFailedError("evicted"), ak.RebalanceInProgressError(),
                                 ak.UnknownMemberIdError(), ak.IllegalGenerationError()])
def test_a_group_that_moved_on_is_retriable_by_joining_again(exc: Exception) -> None:
    """aiokafka calls these final for the call; a consumer that starts a new session recovers,
    so the service must restart the session rather than exit."""
    error = translated(exc)
    assert isinstance(error, KafkaGroupChanged) and error.retriable
    assert str(error).startswith("commit offsets: the consumer group changed")


def test_an_unreachable_broker_is_retriable() -> None:
    error = translated(ak.KafkaConnectionError("refused"))
    assert isinstance(error, KafkaUnavailable) and error.retriable


def test_a_refusal_is_not_retriable() -> None:
    error = translated(ak.TopicAuthorizationFailedError())
    assert isinstance(error, KafkaRejected) and not error.retriable
