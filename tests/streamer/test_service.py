"""`streamer run`: health endpoints, metrics, clean SIGTERM, and no secret in any log line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from devstack.stack import Endpoints

pytestmark = pytest.mark.integration

SERVICE_KEY = "eyJhbGciOiJIUzI1NiJ9.known-service-key-for-the-test"
SASL_PASSWORD = "known-sasl-password-4242"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 20) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=1)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_service_serves_health_and_metrics_then_stops_cleanly_without_leaking_secrets(
    services: Endpoints,
) -> None:
    """The service answers /healthz, /readyz, /metrics; SIGTERM exits 0; no secret reaches the logs."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_")}
    env |= {
        "STREAMER_SOURCE__DSN": services.source_dsn,
        "STREAMER_DESTINATION__DSN": services.destination_dsn,
        "STREAMER_DESTINATION__SERVICE_KEY": SERVICE_KEY,
        "STREAMER_KAFKA__SASL_PASSWORD": SASL_PASSWORD,
        "STREAMER_HTTP__PORT": str(port),
        "STREAMER_LOG__LEVEL": "DEBUG",
        "STREAMER_LOG__FORMAT": "json",
    }
    proc = subprocess.Popen([sys.executable, "-m", "streamer", "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_http(f"{base}/healthz").json() == {"status": "ok"}
        assert wait_http(f"{base}/readyz").status_code == 200
        metrics = wait_http(f"{base}/metrics").text
        assert 'streamer_build_info{version="0.1.0"} 1.0' in metrics
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, output
    assert '"event": "service stopped"' in output
    # No STREAMER_RUN__COMPONENTS: the service says it syncs nothing, rather than idling silently.
    assert "no component runs: nothing is captured or landed; set STREAMER_RUN__COMPONENTS" in output
    password = services.source_dsn.split(":")[2].split("@")[0]
    for secret in (SERVICE_KEY, SASL_PASSWORD, password):
        assert secret not in output
