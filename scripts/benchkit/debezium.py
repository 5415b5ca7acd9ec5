"""The Debezium comparison: `scripts/bench` calls `measure_debezium` for its two Debezium rows
(capture events/s, and the source database's CPU per 10k events at a paced 200 changes/s, each
against Debezium 3.6.1's PostgreSQL connector on the same workload as our capture's rows).

The measurement itself is `devstack.debezium_bench.measure_debezium` (docs/interop.md, "The capture
baseline"): Debezium in a Kafka Connect worker of its own, from Maven jars, on a copy of the leads
table whose slot is made before the backlog is written, as for ours.
"""

from __future__ import annotations

from typing import TypedDict

from devstack.debezium_bench import measure_debezium as measure
from devstack.stack import Endpoints

NEEDS = "not measured (--no-debezium)"


class DebeziumFigures(TypedDict):
    events_per_second: float  # backlog of `changes` drained into Kafka
    source_cpu_per_10k: float  # source CPU seconds per 10k events, paced at `rate`/s


async def measure_debezium(services: Endpoints, *, changes: int, paced_seconds: float, rate: int = 200,
                           warmup: int = 5_000) -> DebeziumFigures | None:
    """Debezium's figures on the same workload; None when the source's CPU could not be read."""
    figures = await measure(services.source_dsn, services.kafka_bootstrap, changes=changes,
                            paced_seconds=paced_seconds, rate=rate, warmup=warmup)
    if figures.paced_source_cpu_per_10k is None:
        return None
    return DebeziumFigures(events_per_second=figures.bulk_events_per_second,
                           source_cpu_per_10k=figures.paced_source_cpu_per_10k)
