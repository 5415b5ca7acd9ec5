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
        self._init_reverse(r)

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

    # The reverse path: webhook bridge and applier (issue 6).
    def _init_reverse(self, r: CollectorRegistry) -> None:
        self._webhook_requests = Counter("streamer_webhook_requests", "Webhook requests answered, by HTTP status",
                                         ["status"], registry=r)
        self._webhook_rejected = Counter("streamer_webhook_rejected", "Webhook requests refused, by reason",
                                         ["reason"], registry=r)
        self._webhook_echoes = Counter("streamer_webhook_echoes_dropped",
                                       "Leads the webhook dropped as TabuladorMax's own echo", registry=r)
        self._webhook_published = Counter("streamer_webhook_leads_published",
                                          "Leads the webhook published with Kafka's acknowledgement", registry=r)
        self._webhook_publish_seconds = Histogram(
            "streamer_webhook_publish_seconds", "Time from publish to Kafka's acknowledgement (acks=all)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r)
        self._applier_applied = Counter("streamer_applier_leads_applied",
                                        "Leads the applier wrote into TabuladorMax", registry=r)
        self._applier_stale = Counter("streamer_applier_leads_stale",
                                      "Leads the applier skipped: not newer than the stored row, or duplicates",
                                      registry=r)
        self._applier_rejected = Counter("streamer_applier_leads_rejected",
                                         "Events the applier could not apply, by reason", ["reason"], registry=r)
        self._applier_batches = Histogram("streamer_applier_batch_seconds",
                                          "Applier transactions (one per batch), by duration", registry=r)

    def webhook_request(self, status: int) -> None:
        self._webhook_requests.labels(str(status)).inc()

    def webhook_rejected(self, reason: str) -> None:
        self._webhook_rejected.labels(reason).inc()

    def webhook_echoes_dropped(self, n: int) -> None:
        self._webhook_echoes.inc(n)

    def webhook_published(self, n: int, seconds: float) -> None:
        self._webhook_published.inc(n)
        self._webhook_publish_seconds.observe(seconds)

    def applier_batch(self, applied: int, stale: int, seconds: float) -> None:
        self._applier_applied.inc(applied)
        self._applier_stale.inc(stale)
        self._applier_batches.observe(seconds)

    def applier_rejected(self, reason: str, n: int = 1) -> None:
        self._applier_rejected.labels(reason).inc(n)
