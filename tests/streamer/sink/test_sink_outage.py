"""A destination outage as operators see it (issue 14): /readyz goes 503 while the sink retries,
the lag gauge keeps growing from the broker's end offsets, and both recover when it comes back."""

from __future__ import annotations

import asyncio
import time

import pytest

from streamer.capture.component import CaptureComponent
from streamer.metrics import Metrics
from streamer.sink.component import SinkComponent
from tests.streamer.sink.pipeline import Pipeline
from tests.streamer.sink.test_sink_pipeline import insert
from tests.wait import until


def total_lag(metrics: Metrics) -> float:
    return sum(s.value for m in metrics.registry.collect() for s in m.samples if s.name == "streamer_sink_consumer_lag")


def last_landed(metrics: Metrics) -> float:
    value = metrics.registry.get_sample_value("streamer_sink_last_landed_timestamp_seconds")
    assert value is not None
    return value


@pytest.mark.timeout(300)
async def test_an_outage_turns_readiness_off_and_the_lag_grows_then_both_recover(pipeline: Pipeline) -> None:
    """503 for 30 s: the sink turns unready (alive all along), the lag grows to the new changes and
    the last-landed time stays where it was (the series monitoring/alerts_test.yml feeds
    StreamerSinkNotLanding); once the destination answers again it is ready, a batch lands, the lag
    drains to 0 and source == destination."""
    settings, metrics, stopping = pipeline.settings(), Metrics(), asyncio.Event()
    capture, sink = CaptureComponent(settings, metrics), SinkComponent(settings, metrics)
    tasks = [asyncio.create_task(c.run(stopping)) for c in (capture, sink)]
    try:
        await until(lambda: capture.ready() and sink.ready(), seconds=60)
        await insert(pipeline, 1, 500)
        await pipeline.converged(seconds=60)
        await until(lambda: total_lag(metrics) == 0, seconds=30)  # committed, so the last batch is counted
        landed_before = last_landed(metrics)
        assert landed_before > 0
        await pipeline.admin("POST", "faults", status=503, seconds=30, retry_after=1, table=pipeline.table)
        down = time.monotonic()
        await insert(pipeline, 501, 2000, seed=3)
        await until(lambda: not sink.ready(), seconds=25)
        unready = time.monotonic() - down  # a figure, not a threshold (README, Readiness)
        assert sink.healthy()  # liveness: waiting for the destination is not a reason to restart
        await until(lambda: total_lag(metrics) >= 1500, seconds=25)
        assert last_landed(metrics) == landed_before  # frozen while blocked
        await until(sink.ready, seconds=120)
        src, dst = await pipeline.converged(seconds=120)
        assert src == dst
        assert last_landed(metrics) > landed_before
        await until(lambda: total_lag(metrics) == 0, seconds=30)
        print(f"\noutage of 30 s: unready after {unready:.1f} s; ready, landed and lag 0 "
              f"{time.monotonic() - down - 30:.1f} s after it ended")
    finally:
        stopping.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)


@pytest.mark.timeout(300)
async def test_a_hanging_destination_turns_readiness_off_before_the_client_times_out(pipeline: Pipeline) -> None:
    """Requests hang for 30 s (then 544), under a 120 s client timeout: no error reaches the sink
    while they hang, yet it turns unready (alive), and is ready again once the batch lands."""
    settings, metrics, stopping = pipeline.settings(), Metrics(), asyncio.Event()
    settings = settings.model_copy(update={"destination": settings.destination.model_copy(
        update={"timeout_seconds": 120.0})})
    capture, sink = CaptureComponent(settings, metrics), SinkComponent(settings, metrics)
    tasks = [asyncio.create_task(c.run(stopping)) for c in (capture, sink)]
    try:
        await until(lambda: capture.ready() and sink.ready(), seconds=60)
        await pipeline.admin("POST", "faults", mode="timeout", seconds=30, table=pipeline.table)
        await insert(pipeline, 1, 200)
        await until(lambda: not sink.ready(), seconds=28)  # before the hang ends: only waiting counts
        assert sink.healthy() and sink.health.state == "ok"
        await until(sink.ready, seconds=120)
        src, dst = await pipeline.converged(seconds=120)
        assert src == dst
    finally:
        stopping.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
