"""The Debezium comparison's plug: `scripts/bench` calls `measure_debezium` for its two Debezium
rows (capture events/s, and the source database's CPU per 10k events at a paced 200 changes/s,
each against Debezium 3.6.1's PostgreSQL connector on the same workload).

Until a measurement is plugged in, `measure_debezium` returns None and the rows print
"not measured (needs …)". To plug one in, make it return `DebeziumFigures` measured on the
workload `scripts/bench` uses for its own capture rows (`benchkit.capture.bench_mode` with
`changes` backlog changes: 49-column leads inserted 100 per transaction before the capture
starts; `benchkit.capture.bench_paced`: single-lead transactions at `rate`/s for `paced_seconds`,
the source's CPU as utime+stime from /proc of the server processes serving the connector).
"""

from __future__ import annotations

from typing import TypedDict

from devstack.stack import Endpoints

NEEDS = "needs Debezium 3.6.1 in Kafka Connect: benchkit/debezium.py measure_debezium"


class DebeziumFigures(TypedDict):
    events_per_second: float  # backlog of `changes` drained into Kafka
    source_cpu_per_10k: float  # source CPU seconds per 10k events, paced at `rate`/s


def measure_debezium(services: Endpoints, *, changes: int, paced_seconds: float, rate: int = 200
                     ) -> DebeziumFigures | None:
    """Debezium's figures on the same workload, or None when it cannot be measured here."""
    return None
