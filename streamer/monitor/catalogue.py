"""The service's metrics as a catalogue: what each family is called on the wire, its type, its
labels and its help text, read from a live `Metrics` registry rather than written by hand.

Used by `scripts/metrics_table.py` (docs/metrics.md) and by the tests that keep the docs, the
alert rules and the Grafana dashboards honest.

    >>> rows = catalogue(Metrics())
    >>> rows[0].exposed
    'streamer_build_info'
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.metrics import MetricWrapperBase

from streamer.metrics import Metrics

# What prometheus_client adds to a family's name on the wire, by type (text format 0.0.4).
SUFFIXES: dict[str, tuple[str, ...]] = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "enum": ("",),
    "unknown": ("",),
}
# The name a person queries: the counter's `_total`, the histogram's bare name.
MAIN_SUFFIX = {"counter": "_total", "info": "_info"}


@dataclass(frozen=True)
class MetricRow:
    family: str
    type: str
    labels: tuple[str, ...]
    help: str

    @property
    def exposed(self) -> str:
        """The name to write in a query (`x_total` for a counter, `x` for a histogram or gauge)."""
        return self.family + MAIN_SUFFIX.get(self.type, "")

    @property
    def samples(self) -> tuple[str, ...]:
        """Every sample name this family can put on /metrics."""
        return tuple(self.family + suffix for suffix in SUFFIXES.get(self.type, ("",)))


def catalogue(metrics: Metrics) -> list[MetricRow]:
    """One row per metric family of `metrics`, in registration order."""
    # A labelled family with no children yet has no samples, so collect() cannot tell its label
    # names; the collectors, which `Metrics` holds as attributes, can.
    labels = {next(iter(c.describe())).name: tuple(getattr(c, "_labelnames", ()))
              for c in vars(metrics).values() if isinstance(c, MetricWrapperBase)}
    return [MetricRow(family.name, family.type, labels.get(family.name, ()), family.documentation)
            for family in metrics.registry.collect()]


def exposed_sample_names(metrics: Metrics) -> set[str]:
    """Every sample name the service can expose, for checking queries against."""
    return {name for row in catalogue(metrics) for name in row.samples}


def markdown_table(rows: list[MetricRow]) -> str:
    """The docs/metrics.md table: name, type, labels, meaning."""
    lines = ["| name | type | labels | meaning |", "|---|---|---|---|"]
    for row in rows:
        extra = " (`_bucket`, `_sum`, `_count`)" if row.type == "histogram" else ""
        labels = ", ".join(f"`{label}`" for label in row.labels) or "—"
        meaning = row.help.replace("|", "\\|")
        lines.append(f"| `{row.exposed}`{extra} | {row.type} | {labels} | {meaning} |")
    return "\n".join(lines) + "\n"
