"""The "monitor" component: its settings, its place in `streamer run`, and its routes in the service's app."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from streamer.cli.components import build_components
from streamer.config import RunSettings, Settings
from streamer.metrics import Metrics
from streamer.monitor.component import MonitorComponent
from streamer.sections import MonitorSettings
from streamer.service import http_app

TOKEN = "0123456789abcdef-admin"


def test_a_short_admin_token_is_refused() -> None:
    """An admin token under 16 characters is a configuration error that says how to make one."""
    with pytest.raises(ValidationError, match="at least 16 characters"):
        MonitorSettings(admin_token=SecretStr("short"))


def test_the_admin_token_is_a_secret_the_logs_redact() -> None:
    """Settings.secrets() includes the admin token, so the redaction processor masks it."""
    settings = Settings(monitor=MonitorSettings(admin_token=SecretStr(TOKEN)))
    assert TOKEN in settings.secrets()


async def test_streamer_run_builds_the_monitor_and_serves_its_routes() -> None:
    """run.components=["monitor"] builds the component; the service's app serves /monitor beside /metrics."""
    settings = Settings(run=RunSettings(components=("monitor",)))
    metrics = Metrics()
    (component,) = build_components(settings, metrics)
    assert isinstance(component, MonitorComponent) and not component.ready()
    app = http_app(metrics, [component], alive=lambda: True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as client:
        page = await client.get("/monitor")
        jobs = await client.get("/monitor/api/jobs")
        ready = await client.get("/readyz")
    assert page.status_code == 200
    assert jobs.status_code == 503  # not connected: run() was never started
    assert ready.json()["components"] == {"monitor": False}
