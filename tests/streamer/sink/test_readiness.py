"""The sink's readiness (/readyz): ready while consuming and landing; not ready while blocked, nor
once it has retried the destination longer than `sink.unready_after_seconds`; liveness unchanged."""

from __future__ import annotations

import time

from streamer.config import Settings
from streamer.metrics import Metrics
from streamer.sections import SinkSettings
from streamer.sink.component import SinkComponent


def consuming_sink(unready_after: float = 5.0) -> SinkComponent:
    sink = SinkComponent(Settings(sink=SinkSettings(unready_after_seconds=unready_after)), Metrics())
    sink._consuming = True  # what a session sets once its consumer joined the group
    return sink


def test_a_consuming_healthy_sink_is_ready() -> None:
    """Consuming and nothing wrong: ready and healthy."""
    sink = consuming_sink()
    assert sink.ready() and sink.healthy()


def test_a_short_retry_keeps_the_sink_ready() -> None:
    """A destination hiccup shorter than the limit does not flap readiness."""
    sink = consuming_sink(unready_after=5.0)
    sink.health.degraded("destination unavailable (503)")
    assert sink.ready()


def test_retrying_the_destination_longer_than_the_limit_makes_the_sink_unready_but_alive() -> None:
    """Past `unready_after_seconds` of retries /readyz says no; /healthz (liveness) still says yes."""
    sink = consuming_sink(unready_after=5.0)
    sink.health.degraded("destination unavailable (503)")
    sink.health.since = time.monotonic() - 6.0
    assert not sink.ready()
    assert sink.healthy()
    sink.health.ok()
    assert sink.ready()


def test_a_blocked_sink_is_neither_ready_nor_healthy() -> None:
    """Blocked (auth, drift): unready at once."""
    sink = consuming_sink()
    sink.health.blocked("auth", "the destination refused the key")
    assert not sink.ready() and not sink.healthy()


def test_a_request_unanswered_longer_than_the_limit_makes_the_sink_unready_until_it_answers() -> None:
    """A destination that hangs gives no error to retry on until the client times out (30 s by
    default): a request waiting past `unready_after_seconds` already turns /readyz off."""
    sink = consuming_sink(unready_after=5.0)
    with sink.health.awaiting_answer():
        assert sink.ready()  # just sent
        (ticket,) = sink.health._waiting
        sink.health._waiting[ticket] = time.monotonic() - 6.0
        assert not sink.ready()
        assert sink.healthy()
    assert sink.ready()  # answered (or failed into a retry, which degraded() then counts)
