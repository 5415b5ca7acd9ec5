"""docs/metrics.md names every metric the service exports, as scripts/metrics_table.py writes it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from streamer.metrics import Metrics
from streamer.monitor.catalogue import catalogue, exposed_sample_names, markdown_table

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "metrics.md"  # README.md carries the same generated table


def test_every_registered_metric_is_in_the_doc() -> None:
    """A metric in the registry but not in docs/metrics.md fails here: run scripts/metrics_table.py."""
    documented = set(re.findall(r"`(streamer_\w+)`", DOC.read_text()))
    missing = [row.exposed for row in catalogue(Metrics()) if row.exposed not in documented]
    assert missing == [], f"undocumented metrics {missing}: run scripts/metrics_table.py"


def test_the_generated_table_is_up_to_date() -> None:
    """Types, labels and help texts in the doc match the registry (scripts/metrics_table.py --check)."""
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "metrics_table.py"), "--check"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def test_catalogue_knows_names_types_and_labels_of_unused_families() -> None:
    """Labels come from the collectors, so a labelled family with no samples yet still lists them."""
    rows = {row.family: row for row in catalogue(Metrics())}
    assert rows["streamer_capture_changes"].labels == ("op",)
    assert rows["streamer_capture_changes"].exposed == "streamer_capture_changes_total"
    assert rows["streamer_build"].exposed == "streamer_build_info"
    assert rows["streamer_sink_end_to_end_seconds"].type == "histogram"


def test_exposed_sample_names_include_every_suffix_prometheus_client_writes() -> None:
    """Counters expose _total and _created; histograms _bucket, _sum, _count, _created; gauges their name."""
    names = exposed_sample_names(Metrics())
    assert {"streamer_capture_changes_total", "streamer_capture_changes_created",
            "streamer_sink_batch_seconds_bucket", "streamer_sink_batch_seconds_sum",
            "streamer_sink_batch_seconds_count", "streamer_capture_slot_active", "streamer_build_info"} <= names
    assert "streamer_capture_changes" not in names


def test_markdown_table_escapes_pipes_in_help_texts() -> None:
    """A `|` in a help text would split the row; it is escaped."""
    from streamer.monitor.catalogue import MetricRow

    table = markdown_table([MetricRow("x", "gauge", ("a",), "one | two")])
    assert "one \\| two" in table and "`a`" in table
