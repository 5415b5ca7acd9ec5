"""The alert rules, their unit tests, Prometheus's config and the Alertmanager example, checked
with Debian's promtool and amtool (CI installs both through scripts/bootstrap)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamer.metrics import Metrics
from streamer.monitor.catalogue import exposed_sample_names
from tests.monitoring.promql import PROMETHEUS_OWN, PROPOSED, metric_names

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
RULES, RULE_TESTS = MONITORING / "alerts.yml", MONITORING / "alerts_test.yml"
ALERTMANAGER = MONITORING / "alertmanager.yml"


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not found: apt-get install {package} (scripts/bootstrap installs it in CI)")
    return path


def run(*args: str, cwd: Path = MONITORING) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_check_rules_accepts_the_alert_rules() -> None:
    """`promtool check rules` finds every rule valid."""
    result = run(tool("promtool", "prometheus"), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_promtool_rule_unit_tests_pass() -> None:
    """`promtool test rules` passes every firing and quiet case in alerts_test.yml."""
    result = run(tool("promtool", "prometheus"), "test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_that_sees_it_fire() -> None:
    """Each alert in alerts.yml is expected to fire at least once in alerts_test.yml."""
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {case["alertname"] for test in tests for case in test.get("alert_rule_test", []) if case["exp_alerts"]}
    assert {rule["alert"] for rule in alert_rules()} <= fired


def test_alerts_read_only_metrics_the_service_exports() -> None:
    """Every metric an alert reads is exported (or Prometheus's own `up`, or a name agreed in PROPOSED)."""
    known = exposed_sample_names(Metrics()) | PROMETHEUS_OWN | PROPOSED
    unknown = {rule["alert"]: sorted(metric_names(rule["expr"]) - known) for rule in alert_rules()}
    assert {alert: names for alert, names in unknown.items() if names} == {}


def test_every_alert_says_how_bad_and_what_happened() -> None:
    """Each alert carries a severity Alertmanager routes on, a summary and a description."""
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["alert"].startswith("Streamer"), rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]


def test_prometheus_config_is_valid_and_loads_the_rules(tmp_path: Path) -> None:
    """`promtool check config` accepts monitoring/prometheus.yml with alerts.yml where compose mounts it."""
    promtool = tool("promtool", "prometheus")
    config = (MONITORING / "prometheus.yml").read_text()
    assert "/etc/prometheus/alerts.yml" in config
    (tmp_path / "alerts.yml").write_text(RULES.read_text())
    (tmp_path / "prometheus.yml").write_text(config.replace("/etc/prometheus/alerts.yml", str(tmp_path / "alerts.yml")))
    result = run(promtool, "check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout


def test_alertmanager_example_is_valid() -> None:
    """`amtool check-config` accepts the Alertmanager example."""
    result = run(tool("amtool", "prometheus-alertmanager"), "check-config", str(ALERTMANAGER))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("severity", ["warning", "critical"])
def test_every_alert_is_routed_to_email(severity: str) -> None:
    """Each alert, at its severity, reaches an e-mail receiver; critical ones also the on-call address."""
    amtool = tool("amtool", "prometheus-alertmanager")
    receivers = {r["name"]: r for r in yaml.safe_load(ALERTMANAGER.read_text())["receivers"]}
    for rule in alert_rules():
        if rule["labels"]["severity"] != severity:
            continue
        result = run(amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER}",
                     f"alertname={rule['alert']}", f"severity={severity}")
        assert result.returncode == 0, result.stderr
        (receiver,) = result.stdout.split()
        emails = receivers[receiver]["email_configs"]
        assert emails, receiver
        if severity == "critical":
            assert "oncall" in emails[0]["to"], rule["alert"]
