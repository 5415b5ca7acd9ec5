"""The rough PromQL reader used to check rules and dashboards, on literal expressions."""

from __future__ import annotations

import pytest

from tests.monitoring.promql import metric_names


@pytest.mark.parametrize(("expr", "names"), [
    ("streamer_component_up == 0", {"streamer_component_up"}),
    ('up{job="streamer"} == 0', {"up"}),
    ("sum by (job, instance) (increase(streamer_sink_requests_total{outcome=\"auth\"}[5m])) > 0",
     {"streamer_sink_requests_total"}),
    ("histogram_quantile(0.99, sum by (le) (rate(streamer_sink_end_to_end_seconds_bucket[$__rate_interval])))",
     {"streamer_sink_end_to_end_seconds_bucket"}),
    ("max by (job) (a_metric and on (job, instance) b_metric{component=\"capture\"}) == 0", {"a_metric", "b_metric"}),
    ("time() - streamer_capture_last_event_timestamp_seconds > 1e9", {"streamer_capture_last_event_timestamp_seconds"}),
    ("sum(rate(x_total[5m])) / clamp_min(sum(rate(y_total[5m])), 1)", {"x_total", "y_total"}),
    ('label_replace(m, "dst", "$1", "src", "(.*)")', {"m"}),
    ("sum without (partition) (streamer_sink_consumer_lag)", {"streamer_sink_consumer_lag"}),
    ("count(count by (version) (streamer_build_info))", {"streamer_build_info"}),
])
def test_metric_names_finds_selectors_not_functions_labels_or_keywords(expr: str, names: set[str]) -> None:
    """Only selected metric names come out: not functions, aggregations, grouping labels, strings or numbers."""
    assert metric_names(expr) == names
