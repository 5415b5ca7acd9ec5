"""`streamer check`: one row per part, exit 0 only when every part works."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from devstack.stack import Endpoints

pytestmark = pytest.mark.integration


def run_check(services: Endpoints, **overrides: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_")}
    env |= {
        "STREAMER_SOURCE__DSN": services.source_dsn,
        "STREAMER_KAFKA__BOOTSTRAP_SERVERS": services.kafka_bootstrap,
        "STREAMER_DESTINATION__URL": services.destination_url,
        "STREAMER_DESTINATION__SERVICE_KEY": services.service_key,
        "COLUMNS": "200",
    } | overrides
    return subprocess.run([sys.executable, "-m", "streamer", "check"], env=env, capture_output=True,
                          text=True, timeout=90, check=False)


def test_check_passes_against_the_running_services(services: Endpoints) -> None:
    """With the stack's settings, source, Kafka and destination all report ok and the exit code is 0."""
    proc = run_check(services)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(" ok ") == 3


def test_check_names_the_anon_key_mistake_and_fails(services: Endpoints) -> None:
    """Configuring the anon key instead of the service key is reported as such, with exit 1."""
    proc = run_check(services, STREAMER_DESTINATION__SERVICE_KEY=services.anon_key)
    assert proc.returncode == 1
    assert "anon" in proc.stdout and "service_role" in proc.stdout
    assert services.anon_key not in proc.stdout + proc.stderr


def test_check_reports_an_unreachable_kafka_without_hiding_the_others(services: Endpoints) -> None:
    """A dead Kafka fails its own row; the source and destination rows still say ok."""
    proc = run_check(services, STREAMER_KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:1")
    assert proc.returncode == 1
    rows = {line.split("│")[1].strip(): line for line in proc.stdout.splitlines() if line.count("│") >= 3}
    assert "FAIL" in rows["kafka"]
    assert " ok " in rows["source"] and " ok " in rows["destination"]
