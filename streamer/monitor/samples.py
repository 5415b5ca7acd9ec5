"""The console's live charts without Grafana: a small in-process ring buffer of samples of this
process's own metrics, and the series drawn from it (leads/s landed, errors/s, consumer lag,
commit→visible p50/p99 over the last hour).

    ring = Ring(seconds=3600, every=5)
    ring.add(take(registry, now=time.time()))   # every 5 s, by the monitor component
    series(ring.samples())                      # {"t": [...], "landed_per_s": [...], ...}

`take` reads the registry (I/O-free but process state); `series` and `quantile` are pure.
A counter that went down between two samples (a restart of the process cannot happen inside one
ring, but a reset registry in tests can) counts as a new start, like Prometheus' `rate()`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

LANDED = "streamer_sink_leads_landed_total"
FAILED = "streamer_sink_leads_failed_total"
LAG = "streamer_sink_consumer_lag"
VISIBLE_BUCKET = "streamer_sink_end_to_end_seconds_bucket"

Buckets = tuple[tuple[float, float], ...]  # (upper bound, cumulative count), +Inf last


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # Unix seconds
    landed: float | None
    failed: float | None
    lag: float | None
    visible: Buckets  # commit→visible histogram buckets, empty when the sink does not run here


class Ring:
    """The newest `seconds / every` samples."""

    def __init__(self, seconds: float = 3600, every: float = 5) -> None:
        if every <= 0 or seconds < every:
            raise ValueError(f"a ring needs 0 < every <= seconds, got every={every}, seconds={seconds}")
        self.every = every
        self._samples: deque[Sample] = deque(maxlen=int(seconds // every) + 1)

    def add(self, sample: Sample) -> None:
        self._samples.append(sample)

    def samples(self) -> list[Sample]:
        return list(self._samples)


def take(registry: CollectorRegistry, *, now: float) -> Sample:
    """One sample of the figures the charts draw, summed over their labels."""
    sums: dict[str, float] = {}
    buckets: dict[float, float] = {}
    for family in registry.collect():
        for s in family.samples:
            if s.name in (LANDED, FAILED, LAG):
                sums[s.name] = sums.get(s.name, 0.0) + s.value
            elif s.name == VISIBLE_BUCKET:
                bound = float(s.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + s.value
    return Sample(now, sums.get(LANDED), sums.get(FAILED), sums.get(LAG), tuple(sorted(buckets.items())))


def quantile(q: float, buckets: Buckets) -> float | None:
    """The `q` quantile of a histogram's cumulative buckets, interpolated linearly inside the bucket
    it falls in (as Prometheus' histogram_quantile); None without observations. A quantile in the
    +Inf bucket is the highest finite bound.

    >>> quantile(0.5, ((1.0, 2.0), (2.0, 4.0), (math.inf, 4.0)))
    1.0
    """
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def _delta(now: float | None, before: float | None) -> float | None:
    if now is None or before is None:
        return None
    return now if now < before else now - before  # lower: the counter started again


def _bucket_delta(now: Buckets, before: Buckets) -> Buckets:
    earlier = dict(before)
    if any(count < earlier.get(bound, 0.0) for bound, count in now):
        return now  # started again
    return tuple((bound, count - earlier.get(bound, 0.0)) for bound, count in now)


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def series(samples: Sequence[Sample]) -> dict[str, list[float | None]]:
    """Columns for the charts, one point per interval between two samples: its end time (Unix
    seconds), leads landed and failed per second, the consumer lag at its end, and the p50 and
    p99 of commit→visible of the leads landed in it (None when none landed)."""
    out: dict[str, list[float | None]] = {k: [] for k in (
        "t", "landed_per_s", "errors_per_s", "lag", "visible_p50", "visible_p99")}
    for before, now in zip(samples, samples[1:], strict=False):
        seconds = now.at - before.at
        if seconds <= 0:
            continue
        landed, failed = _delta(now.landed, before.landed), _delta(now.failed, before.failed)
        window = _bucket_delta(now.visible, before.visible)
        out["t"].append(now.at)
        out["landed_per_s"].append(_rounded(None if landed is None else landed / seconds))
        out["errors_per_s"].append(_rounded(None if failed is None else failed / seconds))
        out["lag"].append(now.lag)
        out["visible_p50"].append(_rounded(quantile(0.5, window)))
        out["visible_p99"].append(_rounded(quantile(0.99, window)))
    return out

