"""Metrics helpers: `observe_many` must leave exactly the series `observe` one by one leaves."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from streamer.metrics import observe_many

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5)
VALUES = [0.0, 0.05, 0.050001, 0.1, 0.3, 0.5, 0.99, 1, 2.5, 5, 7.5, 1e9, 0.05, 0.3]


def exposition(fill: str) -> bytes:
    registry = CollectorRegistry()
    histogram = Histogram("h", "h", buckets=BUCKETS, registry=registry)
    if fill == "one by one":
        for value in VALUES:
            histogram.observe(value)
    else:
        observe_many(histogram, VALUES)
        observe_many(histogram, [])
    return b"\n".join(line for line in generate_latest(registry).splitlines() if b"_created" not in line)


def test_observe_many_matches_observe() -> None:
    assert exposition("many") == exposition("one by one")
    assert b'h_bucket{le="0.05"} 3.0' in exposition("many")  # bounds are inclusive
