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


async def test_the_component_samples_its_metrics_for_the_charts() -> None:
    """While it runs (even before the database answers) the component samples this process's
    metrics into its ring; it stops cleanly with the service."""
    import asyncio

    from streamer.sections import SourceSettings

    settings = Settings(source=SourceSettings(dsn=SecretStr("postgresql://nobody@127.0.0.1:1/none")))
    component = MonitorComponent(settings, Metrics())
    stopping = asyncio.Event()
    task = asyncio.create_task(component.run(stopping))
    for _ in range(100):
        if component.ring.samples():
            break
        await asyncio.sleep(0.02)
    stopping.set()
    await asyncio.wait_for(task, 10)
    assert component.ring.samples() and component.store is None
