#!/usr/bin/env python3
"""Writes the Grafana dashboards (monitoring/grafana/dashboards/*.json) from the panels below.

    python3 monitoring/grafana/generate.py           # rewrite the JSON files
    python3 monitoring/grafana/generate.py --check   # exit 1 if a JSON file differs

The JSON is committed, so docker compose provisions it without running anything; this file is
where to change it (tests/monitoring/test_dashboards.py checks the two agree, and that every
Prometheus query names only metrics the service exports). Standard library only.

No data source is named by its uid: panels name `${DS_PROMETHEUS}` and `${DS_TABULADORMAX}`,
which are both `__inputs` (Grafana's import dialog asks which data source each one is) and
data-source template variables (a provisioned or API-imported dashboard picks the instance's
data source of that type, switchable at the top of the dashboard). So the dashboards work in any
Grafana, whatever its data sources are called.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"
PROM = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
SQL = {"type": "grafana-postgresql-datasource", "uid": "${DS_TABULADORMAX}"}
# Variable name → (label, plugin id, plugin name, description) for each data source a panel may use.
SOURCES = {
    "DS_PROMETHEUS": ("Prometheus", "prometheus", "Prometheus", "The Prometheus that scrapes the streamer"),
    "DS_TABULADORMAX": ("TabuladorMax (PostgreSQL)", "grafana-postgresql-datasource", "PostgreSQL",
                        "TabuladorMax's database: its export job and error tables (a read-only role suffices)"),
}


def variable_of(source: dict[str, str]) -> str:
    """`${DS_PROMETHEUS}` → `DS_PROMETHEUS`."""
    return source["uid"].removeprefix("${").removesuffix("}")


def datasource_inputs(panels: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The `__inputs` and the data-source template variables for the data sources `panels` use."""
    used = sorted({variable_of(p["datasource"]) for p in panels if "datasource" in p})
    inputs = [{"name": name, "label": SOURCES[name][0], "description": SOURCES[name][3], "type": "datasource",
               "pluginId": SOURCES[name][1], "pluginName": SOURCES[name][2]} for name in used]
    variables = [{"name": name, "label": SOURCES[name][0], "type": "datasource", "query": SOURCES[name][1],
                  "current": {}, "hide": 0, "includeAll": False, "multi": False, "options": [], "refresh": 1,
                  "regex": "", "skipUrlSync": False} for name in used]
    return inputs, variables
RATE = "$__rate_interval"


def quantiles(bucket: str, by: str = "", qs: tuple[float, ...] = (0.5, 0.95, 0.99)) -> list[tuple[str, str]]:
    grouping = f"le, {by}" if by else "le"
    return [(f"histogram_quantile({q}, sum by ({grouping}) (rate({bucket}[{RATE}])))", f"p{round(q * 100)}")
            for q in qs]


@dataclass
class Panel:
    title: str
    exprs: list[tuple[str, str]]  # (query, legend) for Prometheus; (SQL, format) for PostgreSQL
    kind: str = "timeseries"
    unit: str = "short"
    w: int = 12
    h: int = 8
    sql: bool = False
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    thresholds: list[tuple[float | None, str]] | None = None

    def render(self, pid: int, x: int, y: int) -> dict[str, Any]:
        refs = "ABCDEFGH"
        if self.sql:
            targets = [{"refId": refs[i], "datasource": SQL, "rawQuery": True, "editorMode": "code",
                        "format": fmt, "rawSql": query} for i, (query, fmt) in enumerate(self.exprs)]
        else:
            targets = [{"refId": refs[i], "datasource": PROM, "expr": expr, "legendFormat": legend}
                       for i, (expr, legend) in enumerate(self.exprs)]
        defaults: dict[str, Any] = {"unit": self.unit}
        if self.thresholds:
            defaults["thresholds"] = {"mode": "absolute", "steps": [{"value": v, "color": c}
                                                                    for v, c in self.thresholds]}
        panel: dict[str, Any] = {
            "id": pid, "type": self.kind, "title": self.title, "gridPos": {"x": x, "y": y, "w": self.w, "h": self.h},
            "datasource": SQL if self.sql else PROM, "targets": targets,
            "fieldConfig": {"defaults": defaults, "overrides": []},
        }
        if self.description:
            panel["description"] = self.description
        if self.options:
            panel["options"] = self.options
        return panel


@dataclass
class Row:
    title: str
    panels: list[Panel]


def dashboard(uid: str, title: str, description: str, rows: list[Row], tags: tuple[str, ...] = ()) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    pid, y = 1, 0
    for row in rows:
        panels.append({"id": pid, "type": "row", "title": row.title, "collapsed": False,
                       "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []})
        pid, y, x, row_h = pid + 1, y + 1, 0, 0
        for panel in row.panels:
            if x + panel.w > 24:
                x, y, row_h = 0, y + row_h, 0
            panels.append(panel.render(pid, x, y))
            pid, x, row_h = pid + 1, x + panel.w, max(row_h, panel.h)
        y += row_h
    inputs, variables = datasource_inputs(panels)
    return {
        "__inputs": inputs,
        "uid": uid, "title": title, "description": description, "tags": ["lead-sync", *tags],
        "schemaVersion": 39, "version": 1, "editable": True, "graphTooltip": 1,
        "time": {"from": "now-1h", "to": "now"}, "refresh": "10s", "timezone": "browser",
        "templating": {"list": variables}, "annotations": {"list": []}, "links": [
            {"type": "dashboards", "tags": ["lead-sync"], "asDropdown": True, "title": "Lead sync"}],
        "panels": panels,
    }


UP_THRESHOLDS: list[tuple[float | None, str]] = [(None, "red"), (1, "green")]
STAT = {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background"}


def overview() -> dict[str, Any]:
    return dashboard("streamer-overview", "Lead sync: pipeline overview",
                     "TabuladorMax to Gestão Scouter: captured, landed, lag, latency, errors.", [
        Row("Health", [
            Panel("Components up", [("streamer_component_up", "{{component}} {{instance}}")], "stat", w=8, h=5,
                  thresholds=UP_THRESHOLDS, options=STAT),
            Panel("Since the last captured change",
                  [("time() - max(streamer_capture_last_event_timestamp_seconds > 0)", "age")], "stat", "s",
                  w=4, h=5, thresholds=[(None, "green"), (300, "orange"), (900, "red")], options=STAT),
            Panel("Consumer lag (records)", [("sum(streamer_sink_consumer_lag)", "lag")], "stat", w=4, h=5,
                  thresholds=[(None, "green"), (1000, "orange"), (10000, "red")], options=STAT),
            Panel("Success rate (landed / landed + failed, 1 h)",
                  [("sum(increase(streamer_sink_leads_landed_total[1h])) / clamp_min(sum(increase("
                    "streamer_sink_leads_landed_total[1h])) + sum(increase(streamer_sink_leads_failed_total[1h])), 1)",
                    "success")], "stat", "percentunit", w=4, h=5,
                  thresholds=[(None, "red"), (0.95, "orange"), (0.99, "green")], options=STAT),
            Panel("Version", [("count by (version) (streamer_build_info)", "{{version}}")], "stat", w=4, h=5,
                  options={"reduceOptions": {"calcs": ["lastNotNull"]}, "textMode": "name"}),
        ]),
        Row("Flow", [
            Panel("Captured changes / s, by op", [
                (f"sum by (op) (rate(streamer_capture_changes_total[{RATE}]))", "{{op}}")], unit="ops"),
            Panel("Landed at Gestão Scouter / s", [
                (f"sum(rate(streamer_sink_leads_landed_total[{RATE}]))", "upserted"),
                (f"sum(rate(streamer_sink_leads_deleted_total[{RATE}]))", "deleted"),
                (f"sum(rate(streamer_sink_leads_failed_total[{RATE}]))", "failed")], unit="ops"),
            Panel("End-to-end latency (source commit to landed)",
                  quantiles("streamer_sink_end_to_end_seconds_bucket"), unit="s"),
            Panel("Capture behind source (commit to Kafka ack)",
                  quantiles("streamer_capture_behind_source_seconds_bucket"), unit="s"),
            Panel("Consumer lag by partition", [("streamer_sink_consumer_lag", "partition {{partition}}")]),
            Panel("Errors / s", [
                (f"sum by (status) (rate(streamer_sink_leads_failed_total[{RATE}]))", "failed lead, HTTP {{status}}"),
                (f"sum(rate(streamer_sink_dead_lettered_total[{RATE}]))", "dead-lettered"),
                (f"sum by (component) (rate(streamer_kafka_produce_errors_total[{RATE}]))",
                 "Kafka produce error ({{component}})"),
                (f"sum by (reason) (rate(streamer_applier_leads_rejected_total[{RATE}]))",
                 "applier rejected ({{reason}})")], unit="ops"),
        ]),
    ])


def capture() -> dict[str, Any]:
    return dashboard("streamer-capture", "Lead sync: capture and slot",
                     "The capture from TabuladorMax's WAL (or outbox) into Kafka, and the slot it holds.", [
        Row("Slot", [
            Panel("Slot in use", [("max(streamer_capture_slot_active)", "active")], "stat", w=6, h=5,
                  thresholds=UP_THRESHOLDS, options=STAT),
            Panel("Capture leader", [("streamer_capture_leader", "{{instance}}")], "stat", w=6, h=5,
                  description="1 on the instance holding the capture lock; standbys show 0.", options=STAT),
            Panel("WAL retained by the slot", [("max(streamer_capture_slot_retained_wal_bytes)", "retained")],
                  "stat", "bytes", w=6, h=5,
                  thresholds=[(None, "green"), (1073741824, "orange"), (8589934592, "red")], options=STAT),
            Panel("Since the last captured change",
                  [("time() - max(streamer_capture_last_event_timestamp_seconds > 0)", "age")], "stat", "s",
                  w=6, h=5, thresholds=[(None, "green"), (300, "orange"), (900, "red")], options=STAT),
            Panel("WAL retained over time", [("streamer_capture_slot_retained_wal_bytes", "{{instance}}")],
                  unit="bytes", w=24),
        ]),
        Row("Throughput and latency", [
            Panel("Changes produced / s, by op", [
                (f"sum by (op) (rate(streamer_capture_changes_total[{RATE}]))", "{{op}}")], unit="ops"),
            Panel("Behind source (commit to Kafka ack)",
                  quantiles("streamer_capture_behind_source_seconds_bucket"), unit="s"),
            Panel("Heartbeats and snapshot rows / s", [
                (f"sum(rate(streamer_capture_heartbeats_total[{RATE}]))", "heartbeats"),
                (f"sum(rate(streamer_capture_snapshot_rows_total[{RATE}]))", "snapshot rows")], unit="ops"),
            Panel("Kafka produce errors / s", [
                (f"sum by (component) (rate(streamer_kafka_produce_errors_total[{RATE}]))", "{{component}}")],
                unit="ops"),
        ]),
    ], tags=("capture",))


def sink() -> dict[str, Any]:
    return dashboard("streamer-sink", "Lead sync: sink and destination",
                     "Kafka into Gestão Scouter's PostgREST, and the reverse path (webhook bridge, applier).", [
        Row("Destination", [
            Panel("Requests / s, by outcome", [
                (f"sum by (outcome) (rate(streamer_sink_requests_total[{RATE}]))", "{{outcome}}")], unit="reqps"),
            Panel("Retries / s, by reason", [
                (f"sum by (reason) (rate(streamer_sink_retries_total[{RATE}]))", "{{reason}}")], unit="reqps"),
            Panel("Batch time (retries included)", quantiles("streamer_sink_batch_seconds_bucket"), unit="s"),
            Panel("End-to-end latency", quantiles("streamer_sink_end_to_end_seconds_bucket"), unit="s"),
            Panel("Batches in flight, partitions paused", [
                ("sum(streamer_sink_batches_in_flight)", "in flight"),
                ("sum(streamer_sink_partitions_paused)", "paused partitions")]),
            Panel("Consumer lag by partition", [("streamer_sink_consumer_lag", "partition {{partition}}")]),
            Panel("Kafka under-replicated partitions (a broker down or behind)", [
                ("max by (topic) (streamer_kafka_under_replicated_partitions)", "{{topic}}")]),
        ]),
        Row("Leads", [
            Panel("Landed, deleted, failed / s", [
                (f"sum(rate(streamer_sink_leads_landed_total[{RATE}]))", "landed"),
                (f"sum(rate(streamer_sink_leads_deleted_total[{RATE}]))", "deleted"),
                (f"sum by (status) (rate(streamer_sink_leads_failed_total[{RATE}]))", "failed, HTTP {{status}}")],
                unit="ops"),
            Panel("Skipped / s, by reason", [
                (f"sum by (reason) (rate(streamer_sink_events_skipped_total[{RATE}]))", "{{reason}}")], unit="ops"),
            Panel("Dead-lettered (last hour)", [("sum(increase(streamer_sink_dead_lettered_total[1h]))", "dlq")],
                  "stat", w=6, h=5, thresholds=[(None, "green"), (1, "red")], options=STAT),
            Panel("Auth failures (last hour)",
                  [('sum(increase(streamer_sink_requests_total{outcome="auth"}[1h]))', "auth")], "stat", w=6, h=5,
                  thresholds=[(None, "green"), (1, "red")], options=STAT),
        ]),
        Row("Reverse path (Gestão Scouter to TabuladorMax)", [
            Panel("Webhook requests / s, by status", [
                (f"sum by (status) (rate(streamer_webhook_requests_total[{RATE}]))", "{{status}}"),
                (f"sum by (reason) (rate(streamer_webhook_rejected_total[{RATE}]))", "rejected: {{reason}}")],
                unit="reqps"),
            Panel("Webhook leads / s", [
                (f"sum(rate(streamer_webhook_leads_published_total[{RATE}]))", "published"),
                (f"sum(rate(streamer_webhook_echoes_dropped_total[{RATE}]))", "echoes dropped")], unit="ops"),
            Panel("Webhook publish to Kafka ack", quantiles("streamer_webhook_publish_seconds_bucket"), unit="s"),
            Panel("Applier leads / s", [
                (f"sum(rate(streamer_applier_leads_applied_total[{RATE}]))", "applied"),
                (f"sum(rate(streamer_applier_leads_stale_total[{RATE}]))", "stale"),
                (f"sum by (reason) (rate(streamer_applier_leads_rejected_total[{RATE}]))", "rejected: {{reason}}")],
                unit="ops"),
            Panel("Applier batch time", quantiles("streamer_applier_batch_seconds_bucket"), unit="s", w=24),
        ]),
    ], tags=("sink",))


JOBS_TABLE = """\
SELECT id::text AS job, status, kind, start_date, end_date, total_leads, exported_leads, error_leads,
       CASE WHEN total_leads > 0 THEN round(100.0 * (exported_leads + error_leads) / total_leads, 1) END
         AS "progress %",
       processing_date, created_at, started_at, finished_at
  FROM gestao_scouter_export_jobs
 ORDER BY created_at DESC
 LIMIT 50"""
# Error messages may quote lead values: digits and e-mail addresses are masked here too.
ERRORS_TABLE = """\
SELECT created_at, job_id::text AS job, lead_id, response_status AS status,
       left(regexp_replace(regexp_replace(error_message, '[^\\s@]+@[^\\s@]+', '***@***', 'g'),
                           '\\d{4,}', '***', 'g'), 200) AS message
  FROM gestao_scouter_export_errors
 WHERE $__timeFilter(created_at)
 ORDER BY id DESC
 LIMIT 100"""


def jobs() -> dict[str, Any]:
    return dashboard("streamer-jobs", "Lead sync: export jobs",
                     "Export and replay jobs from TabuladorMax's job and error tables (PostgreSQL data source), "
                     "as the seed's Sync Monitor tab showed them; the same data is at /monitor.", [
        Row("Jobs", [
            Panel("Jobs by status", [(
                "SELECT status AS metric, count(*) AS value FROM gestao_scouter_export_jobs GROUP BY status",
                "table")], "bargauge", sql=True, w=8, h=6),
            Panel("Success rate (all jobs)", [(
                "SELECT sum(exported_leads)::float / greatest(sum(exported_leads) + sum(error_leads), 1) AS success "
                "FROM gestao_scouter_export_jobs", "table")], "stat", "percentunit", sql=True, w=4, h=6,
                thresholds=[(None, "red"), (0.95, "orange"), (0.99, "green")], options=STAT),
            Panel("Leads exported vs errors (all jobs)", [(
                "SELECT sum(exported_leads) AS exported, sum(error_leads) AS errors FROM gestao_scouter_export_jobs",
                "table")], "stat", sql=True, w=6, h=6),
            Panel("Stuck jobs", [("max(streamer_history_jobs_stuck)", "stuck")], "stat", w=6, h=6,
                  description="Running jobs without progress for history.stuck_after_seconds (exporter's count).",
                  thresholds=[(None, "green"), (1, "red")], options=STAT),
            Panel("Latest jobs", [(JOBS_TABLE, "table")], "table", sql=True, w=24, h=9),
            Panel("Jobs by status over time", [("max by (status) (streamer_history_jobs)", "{{status}}")]),
            Panel("Rows produced by jobs / s, by kind", [
                (f"sum by (kind) (rate(streamer_history_exported_rows_total[{RATE}]))", "{{kind}}")], unit="ops"),
        ]),
        Row("Errors", [
            Panel("Lead errors per 5 minutes", [(
                "SELECT $__timeGroupAlias(created_at, 5m), count(*) AS errors FROM gestao_scouter_export_errors "
                "WHERE $__timeFilter(created_at) GROUP BY 1 ORDER BY 1", "time_series")], sql=True, w=24, h=7),
            Panel("Latest errors (lead data masked)", [(ERRORS_TABLE, "table")], "table", sql=True, w=24, h=10),
        ]),
    ], tags=("jobs",))


DASHBOARDS = {"overview.json": overview, "capture.json": capture, "sink.json": sink, "jobs.json": jobs}


def render_all() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n" for name, build in DASHBOARDS.items()}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, text in render_all().items():
        path = OUT / name
        if not path.exists() or path.read_text() != text:
            stale.append(name)
            if not check:
                path.write_text(text)
    if check and stale:
        print(f"out of date: {', '.join(stale)}; run monitoring/grafana/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
