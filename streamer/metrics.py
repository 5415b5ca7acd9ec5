"""Prometheus metrics, on an injected registry, reached through named hooks.

Each component records through these methods rather than touching collectors, so metric names
and labels are decided in one place and each test can use a fresh `CollectorRegistry`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from streamer import __version__


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self._info = Info("streamer_build", "Version of the lead sync streamer", registry=r)
        self._info.info({"version": __version__})
        self._up = Gauge("streamer_component_up", "1 while a component runs healthy, else 0",
                         ["component"], registry=r)

        self._captured = Counter("streamer_capture_changes_total", "Source changes produced to Kafka, by op",
                                 ["op"], registry=r)
        self._behind = Histogram("streamer_capture_behind_source_seconds",
                                 "From the source commit to Kafka's acknowledgement", registry=r,
                                 buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
        self._last_event = Gauge("streamer_capture_last_event_timestamp_seconds",
                                 "Unix time of the last change produced (age = time() - this)", registry=r)
        self._slot_retained = Gauge("streamer_capture_slot_retained_wal_bytes",
                                    "WAL the slot keeps on the source (current LSN - restart LSN)", registry=r)
        self._slot_active = Gauge("streamer_capture_slot_active", "1 when the slot exists and is in use",
                                  registry=r)
        self._produce_errors = Counter("streamer_kafka_produce_errors_total", "Failed Kafka produce attempts",
                                       ["component"], registry=r)
        self._heartbeats = Counter("streamer_capture_heartbeats_total",
                                   "Heartbeat messages written so an idle slot can advance", registry=r)
        self._snapshot_rows = Counter("streamer_capture_snapshot_rows_total",
                                      "Rows produced by the initial snapshot", registry=r)
        self._leader = Gauge("streamer_capture_leader", "1 while this instance holds the capture lock",
                             registry=r)

    def component_up(self, component: str, up: bool) -> None:
        self._up.labels(component).set(1 if up else 0)

    # --- capture ---------------------------------------------------------------------------
    def changes_captured(self, op: str, n: int = 1) -> None:
        self._captured.labels(op).inc(n)

    def capture_acked(self, commit_ts_ms: list[int], now_ms: int) -> None:
        for ts in commit_ts_ms:
            self._behind.observe(max(0.0, (now_ms - ts) / 1000))
        if commit_ts_ms:
            self._last_event.set(now_ms / 1000)

    def slot_state(self, active: bool, retained_wal_bytes: int | None) -> None:
        self._slot_active.set(1 if active else 0)
        if retained_wal_bytes is not None:
            self._slot_retained.set(retained_wal_bytes)

    def produce_failed(self, component: str) -> None:
        self._produce_errors.labels(component).inc()

    def heartbeat_sent(self) -> None:
        self._heartbeats.inc()

    def snapshot_rows(self, n: int) -> None:
        self._snapshot_rows.inc(n)

    def capture_leader(self, leader: bool) -> None:
        self._leader.set(1 if leader else 0)
