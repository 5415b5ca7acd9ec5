"""Wiring: the factories, the routes on the service's HTTP app, secrets redacted, 503 until Kafka."""

from __future__ import annotations

import httpx
import orjson

from connectors.kafka.settings import KafkaSettings
from streamer.cli.components import FACTORIES, build_components
from streamer.config import RunSettings, Settings
from streamer.metrics import Metrics
from streamer.sections import WebhookSettings
from streamer.service import http_app
from tests.streamer.webhook.fakes import PATH, SECRET, auth, lead


def settings() -> Settings:
    return Settings(webhook=WebhookSettings(jwt_secret=SECRET), run=RunSettings(components=("webhook", "applier")),
                    kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1"))


def test_webhook_and_applier_are_registered_components() -> None:
    """`streamer run` can build both by name."""
    assert {"webhook", "applier"} <= set(FACTORIES)
    assert [c.name for c in build_components(settings(), Metrics())] == ["webhook", "applier"]


def test_the_jwt_secret_is_among_the_redacted_secrets() -> None:
    """The webhook's secret is masked in every log line."""
    assert SECRET in settings().secrets()


async def test_the_service_app_mounts_the_webhook_which_answers_503_until_kafka_is_connected() -> None:
    """The component's routes reach the service's HTTP app; before the producer starts, a valid
    call is told to retry later and /readyz reports the component not ready."""
    components = build_components(settings(), Metrics())
    app = http_app(Metrics(), components, alive=lambda: True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        response = await client.post(PATH, content=orjson.dumps({"lead": lead()}), headers=auth())
        ready = await client.get("/readyz")
        document = await client.get("/functions/v1/openapi.json")
    assert response.status_code == 503 and "retry-after" in response.headers
    assert ready.json()["components"]["webhook"] is False
    assert document.status_code == 200
