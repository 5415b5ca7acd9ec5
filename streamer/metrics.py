"""Prometheus metrics, on an injected registry, reached through named hooks.

Each component records through these methods rather than touching collectors, so metric names
and labels are decided in one place and each test can use a fresh `CollectorRegistry`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from streamer import __version__


def observe_many(histogram: Histogram, values: Iterable[float]) -> None:
    """`histogram.observe(v)` for every value, in one update per bucket: the same series as
    observing them one by one, at a fraction of the cost (a lock round and Python calls per value
    are ≈ 5 µs, a twentieth of the whole CPU budget per lead; README, Performance). Reaches into
    prometheus_client's Histogram (`_upper_bounds`, `_buckets`, `_sum`), which a test compares
    with `observe` so an upgrade that changes them fails there."""
    bounds: list[float] = histogram._upper_bounds
    counts = [0] * len(bounds)
    total, n = 0.0, 0
    for value in values:
        counts[bisect_left(bounds, value)] += 1  # the first bound >= value, as observe() picks
        total += value
        n += 1
    if not n:
        return
    for bucket, count in zip(histogram._buckets, counts, strict=True):
        if count:
            bucket.inc(count)
    histogram._sum.inc(total)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self._info = Info("streamer_build", "Version of the lead sync streamer", registry=r)
        self._info.info({"version": __version__})
        self._up = Gauge("streamer_component_up", "1 while a component runs healthy, else 0",
                         ["component"], registry=r)
        self._init_reverse(r)
        self._init_sink(r)
        self._init_history(r)
        self._init_verify(r)
        self._init_notify(r)

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
        self._truncates = Counter("streamer_capture_truncates_total",
                                  "TRUNCATEs of the captured table seen and not propagated (the destination "
                                  "keeps those leads)", registry=r)
        self._source_writes = Counter("streamer_source_table_writes_total",
                                      "Rows inserted, updated or deleted in the captured table (pg_stat_user_tables), "
                                      "sampled apart from the capture loop", registry=r)

    def component_up(self, component: str, up: bool) -> None:
        self._up.labels(component).set(1 if up else 0)

    # --- capture ---------------------------------------------------------------------------
    def changes_captured(self, op: str, n: int = 1) -> None:
        self._captured.labels(op).inc(n)

    def capture_acked(self, commit_ts_ms: list[int], now_ms: int) -> None:
        observe_many(self._behind, [max(0.0, (now_ms - ts) / 1000) for ts in commit_ts_ms])
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

    def source_writes(self, n: int) -> None:
        self._source_writes.inc(n)

    def capture_leader(self, leader: bool) -> None:
        self._leader.set(1 if leader else 0)

    def truncate_seen(self) -> None:
        self._truncates.inc()

    # The reverse path: webhook bridge and applier (issue 6).
    def _init_reverse(self, r: CollectorRegistry) -> None:
        self._webhook_requests = Counter("streamer_webhook_requests_total", "Webhook requests answered, by HTTP status",
                                         ["status"], registry=r)
        self._webhook_rejected = Counter("streamer_webhook_rejected_total", "Webhook requests refused, by reason",
                                         ["reason"], registry=r)
        self._webhook_echoes = Counter("streamer_webhook_echoes_dropped_total",
                                       "Leads the webhook dropped as TabuladorMax's own echo", registry=r)
        self._webhook_published = Counter("streamer_webhook_leads_published_total",
                                          "Leads the webhook published with Kafka's acknowledgement", registry=r)
        self._webhook_publish_seconds = Histogram(
            "streamer_webhook_publish_seconds", "Time from publish to Kafka's acknowledgement (acks=all)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r)
        self._applier_applied = Counter("streamer_applier_leads_applied_total",
                                        "Leads the applier wrote into TabuladorMax", registry=r)
        self._applier_stale = Counter("streamer_applier_leads_stale_total",
                                      "Leads the applier skipped: not newer than the stored row, or duplicates",
                                      registry=r)
        self._applier_rejected = Counter("streamer_applier_leads_rejected_total",
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

    # The sink: Kafka to the destination's PostgREST (issue 5).
    def _init_sink(self, r: CollectorRegistry) -> None:
        latency = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
        self._sink_landed = Counter("streamer_sink_leads_landed_total", "Leads upserted at the destination",
                                    registry=r)
        self._sink_deleted = Counter("streamer_sink_leads_deleted_total", "Leads deleted at the destination",
                                     registry=r)
        self._sink_batch = Histogram("streamer_sink_batch_seconds", "Time to land one batch, retries included",
                                     buckets=latency, registry=r)
        self._sink_requests = Counter("streamer_sink_requests_total", "Requests sent to the destination, by outcome",
                                      ["outcome"], registry=r)
        for outcome in ("ok", "rejected", "transient", "schema_drift", "auth", "destination", "fatal"):
            self._sink_requests.labels(outcome)  # every series exists from the start: increase() sees the first
        self._sink_retries = Counter("streamer_sink_retries_total", "Retried requests, by reason", ["reason"],
                                     registry=r)
        self._sink_failed = Counter("streamer_sink_leads_failed_total",
                                    "Leads recorded as failed (error table + dead-letter topic), by HTTP status",
                                    ["status"], registry=r)
        self._sink_filtered = Counter(
            "streamer_sink_events_skipped_total",
            "Events not sent: loop filter, superseded in batch, delete_mode=ignore, predates a delete",
            ["reason"], registry=r)
        self._sink_dlq = Counter("streamer_sink_dead_lettered_total", "Records written to the dead-letter topic",
                                 registry=r)
        self._sink_lag = Gauge("streamer_sink_consumer_lag", "Records behind the partition's end", ["partition"],
                               registry=r)
        self._sink_in_flight = Gauge("streamer_sink_batches_in_flight", "Batches being landed now", registry=r)
        self._sink_last_landed = Gauge("streamer_sink_last_landed_timestamp_seconds",
                                       "When a batch last landed (time() minus this: seconds since)", registry=r)
        self._sink_paused = Gauge("streamer_sink_partitions_paused",
                                  "Partitions paused (destination down, schema drift)", registry=r)
        self._under_replicated = Gauge(
            "streamer_kafka_under_replicated_partitions",
            "Partitions of the topic whose in-sync replicas are fewer than its replicas (a broker down or behind)",
            ["topic"], registry=r)
        self._sink_e2e = Histogram("streamer_sink_end_to_end_seconds",
                                   "From the source commit to landing at the destination", buckets=latency,
                                   registry=r)

    def sink_batch_landed(self, upserts: int, deletes: int, seconds: float, source_ts_ms: list[int],
                          now_ms: int) -> None:
        self._sink_landed.inc(upserts)
        self._sink_deleted.inc(deletes)
        self._sink_batch.observe(seconds)
        self._sink_last_landed.set_to_current_time()
        observe_many(self._sink_e2e, [max(0.0, (now_ms - ts) / 1000) for ts in source_ts_ms])

    def sink_request(self, outcome: str) -> None:
        self._sink_requests.labels(outcome).inc()

    def sink_retry(self, reason: str) -> None:
        self._sink_retries.labels(reason).inc()

    def sink_failed(self, status: str, n: int = 1) -> None:
        self._sink_failed.labels(status).inc(n)

    def sink_skipped(self, reason: str, n: int = 1) -> None:
        self._sink_filtered.labels(reason).inc(n)

    def sink_dead_lettered(self, n: int) -> None:
        self._sink_dlq.inc(n)

    def sink_lag(self, partition: int, lag: int) -> None:
        self._sink_lag.labels(str(partition)).set(lag)

    def kafka_under_replicated(self, topic: str, n: int) -> None:
        self._under_replicated.labels(topic).set(n)

    def sink_in_flight(self, n: int) -> None:
        self._sink_in_flight.set(n)

    def sink_paused(self, n: int) -> None:
        self._sink_paused.set(n)

    # History: export, replay and retry jobs (issue 7).
    def _init_history(self, r: CollectorRegistry) -> None:
        self._jobs = Gauge("streamer_history_jobs", "Jobs in the jobs table, by status", ["status"],
                           registry=r)
        self._jobs_stuck = Gauge("streamer_history_jobs_stuck",
                                 "Running jobs without progress for history.stuck_after_seconds", registry=r)
        self._export_rows = Counter("streamer_history_exported_rows_total",
                                    "Rows an export or retry job produced to Kafka (acknowledged), by kind",
                                    ["kind"], registry=r)

    def history_jobs(self, by_status: dict[str, int], stuck: int) -> None:
        for status in ("pending", "running", "paused", "completed", "failed", "cancelled"):
            self._jobs.labels(status).set(by_status.get(status, 0))
        self._jobs_stuck.set(stuck)

    def history_rows_produced(self, kind: str, n: int) -> None:
        self._export_rows.labels(kind).inc(n)

    # Notifications (issue 15): e-mails by kind and outcome.
    def _init_notify(self, r: CollectorRegistry) -> None:
        self._notify_emails = Counter(
            "streamer_notify_emails_total",
            "Notification e-mails by kind (job_failed, errors, sink_blocked) and outcome: sent, failed (the relay "
            "refused or was unreachable; tried again), suppressed (folded into the next e-mail by the rate limit)",
            ["kind", "outcome"], registry=r)

    def notify_email(self, kind: str, outcome: str) -> None:
        self._notify_emails.labels(kind, outcome).inc()

    # Verify (issue 18): source and destination compared by id ranges.
    def _init_verify(self, r: CollectorRegistry) -> None:
        self._verify_mismatched = Gauge("streamer_verify_mismatched_leads",
                                        "Leads the last verification found differing, by kind: missing (source "
                                        "only), extra (destination only), different", ["kind"], registry=r)
        self._verify_last_run = Gauge("streamer_verify_last_run_timestamp_seconds",
                                      "Unix time the last verification finished", registry=r)
        self._verify_seconds = Gauge("streamer_verify_duration_seconds", "How long the last verification took",
                                     registry=r)

    def verify_finished(self, missing: int, extra: int, different: int, seconds: float) -> None:
        for kind, n in (("missing", missing), ("extra", extra), ("different", different)):
            self._verify_mismatched.labels(kind).set(n)
        self._verify_last_run.set_to_current_time()
        self._verify_seconds.set(seconds)
