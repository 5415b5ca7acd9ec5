"""The webhook bridge as a Component of `streamer run`: it owns the Kafka producer and offers
its routes to the service's HTTP app (`http_routes()`).

While Kafka cannot be reached the endpoint answers 503 (with Retry-After) and the component
keeps trying to connect; on SIGTERM it stops accepting (503), waits for the publishes in flight
to be acknowledged, then closes the producer.
"""

from __future__ import annotations

import asyncio

from starlette.routing import BaseRoute

from connectors.kafka.client import Admin, Producer
from connectors.kafka.errors import KafkaConnectorError
from schemas.debezium import Encoder, model_columns
from schemas.lead import Lead
from schemas.mapping import FieldMapping
from streamer.config import Settings
from streamer.lifecycle import wait_until_set
from streamer.logging import get_logger
from streamer.metrics import Metrics
from streamer.webhook.app import WebhookHandler, webhook_routes
from streamer.webhook.keys import KeySource, key_source
from streamer.webhook.publisher import KafkaPublisher
from streamer.webhook.validate import Rules

log = get_logger(__name__)
BACKOFF_INITIAL, BACKOFF_MAX = 0.5, 30.0


class WebhookBridge:
    """`streamer run` component "webhook"."""

    name = "webhook"

    def __init__(self, settings: Settings, metrics: Metrics, *, keys: KeySource | None = None,
                 mapping: FieldMapping | None = None) -> None:
        hook = settings.webhook
        self._kafka = settings.kafka
        self.publisher = KafkaPublisher(settings.kafka.reverse_topic, timeout=hook.publish_timeout_seconds,
                                        retry_after=hook.retry_after_seconds)
        rules = Rules(mapping=mapping or settings.sink.field_mapping(), echo_sources=frozenset(hook.echo_sources),
                      max_leads=hook.max_leads)
        encoder = Encoder(settings.kafka.encoder_options(
            settings.kafka.reverse_topic_prefix, model_columns(Lead, rules.mapping.destination_name),
            topic=settings.kafka.reverse_topic))
        self.handler = WebhookHandler(keys=keys or key_source(hook), publisher=self.publisher, settings=hook,
                                      metrics=metrics, rules=rules, encoder=encoder)

    def http_routes(self) -> list[BaseRoute]:
        return webhook_routes(self.handler)

    def ready(self) -> bool:
        return self.publisher.connected

    async def run(self, stopping: asyncio.Event) -> None:
        delay = BACKOFF_INITIAL
        while not stopping.is_set():
            try:
                await self._connected(stopping)
                return
            except KafkaConnectorError as exc:
                self.publisher.detach()
                if not exc.retriable:
                    raise
                log.warning("webhook: Kafka unavailable; answering 503 until it is back", error=str(exc),
                            retry_in=delay)
                await wait_until_set(stopping, delay)
                delay = min(delay * 2, BACKOFF_MAX)

    async def _connected(self, stopping: asyncio.Event) -> None:
        async with Admin(self._kafka) as admin:
            await admin.ensure_topic(self.publisher.topic)
        # Metadata refreshes of its own topic only, not the whole cluster's (connectors/kafka/client.py).
        async with Producer(self._kafka, topics=(self.publisher.topic,)) as producer:
            self.publisher.attach(producer)
            log.info("webhook: publishing", topic=self.publisher.topic, path=self.handler.settings.path)
            await stopping.wait()
            self.publisher.detach()  # from now on new requests get 503
            await self.publisher.drained()
