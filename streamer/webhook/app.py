"""The ASGI endpoint `POST /functions/v1/sync-from-gestao-scouter` and its OpenAPI document.

The order of checks is the order of cost: the headers' size (431), the token (401) before reading
the body, the size while reading it (413), then JSON (400), the leads (422), echoes (200,
dropped), and publishing (202 only after Kafka acknowledged; 503 with Retry-After otherwise).
Every refusal's JSON body names what was at fault: `field` (a header, with the token's `claim`
once its signature is good) or, for a 422, each `loc`; none publishes anything.

    routes = webhook_routes(WebhookHandler(keys=..., publisher=..., settings=..., metrics=...))
    app = Starlette(routes=routes)
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from schemas.debezium import Encoder, EncoderOptions, model_columns
from schemas.event import KafkaRecord
from schemas.lead import SYNC_SOURCE_REMOTE, Lead
from streamer.logging import get_logger
from streamer.metrics import Metrics
from streamer.sections import WebhookSettings
from streamer.service import MAX_HEAD_BYTES, header_title
from streamer.webhook.auth import Claims, Keys, bearer_token, verify_token
from streamer.webhook.errors import (
    AuthFailure,
    KeysUnavailable,
    PublishRejected,
    PublishUnavailable,
    WebhookError,
)
from streamer.webhook.keys import KeySource
from streamer.webhook.openapi import openapi_document
from streamer.webhook.publisher import Publisher
from streamer.webhook.validate import Accepted, InvalidBody, Rules, accept, parse_json

log = get_logger(__name__)
# Kafka's default `message.max.bytes` is 1 MiB (plus a little): a larger record would be refused
# by the broker after we had read the whole body, so refuse it here as too large.
MAX_RECORD_BYTES = 1_000_000
# All request headers together. A Supabase token is about 1 KB. The service's h11 parser gives up
# on a head over 16 KiB only while it is incomplete (streamer/service.py answers that 431 too); a
# head that arrives whole reaches this endpoint, which holds its own limit, answered 431 (RFC 6585)
# before the token is decoded.
MAX_HEADER_BYTES = MAX_HEAD_BYTES


class BodyTooLarge(WebhookError):
    pass


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it passes `limit` bytes (declared or streamed)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"declared {declared} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def oversized_header(request: Request) -> str | None:
    """The largest header's name (as `Title-Case`) when the headers together are larger than
    MAX_HEADER_BYTES; None when they fit."""
    headers: list[tuple[bytes, bytes]] = request.scope.get("headers") or []
    if sum(len(name) + len(value) + 4 for name, value in headers) <= MAX_HEADER_BYTES:  # "name: value\r\n"
        return None
    name, _ = max(headers, key=lambda header: len(header[0]) + len(header[1]))
    return header_title(name)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers)


class WebhookHandler:
    """The endpoint: authenticate, read, validate, drop echoes, publish."""

    def __init__(self, *, keys: KeySource, publisher: Publisher, settings: WebhookSettings, metrics: Metrics,
                 rules: Rules | None = None, encoder: Encoder | None = None) -> None:
        self.settings, self._keys, self._publisher, self._metrics = settings, keys, publisher, metrics
        self._rules = rules or Rules(echo_sources=frozenset(settings.echo_sources), max_leads=settings.max_leads)
        # The reverse topic's event format (docs/event-format.md): Gestão Scouter's column names.
        self._encoder = encoder or Encoder(EncoderOptions(
            name=SYNC_SOURCE_REMOTE, columns=model_columns(Lead, self._rules.mapping.destination_name)))

    async def endpoint(self, request: Request) -> Response:
        response = await self._handle(request)
        self._metrics.webhook_request(response.status_code)
        return response

    async def _handle(self, request: Request) -> Response:
        client = request.client.host if request.client else None
        if (header := oversized_header(request)) is not None:
            return self._refuse(431, "header_too_large", {"error": "request header fields too large", "field": header,
                                                          "limit": MAX_HEADER_BYTES},
                                client=client, detail=f"headers over {MAX_HEADER_BYTES} bytes, largest {header}")
        try:
            claims = await self._authenticate(request.headers.get("authorization"))
            accepted = accept(parse_json(await read_limited(request, self.settings.max_body_bytes)), self._rules)
            records = [record for event in accepted.events for record in self._encoder.records(event)]
        except AuthFailure as exc:
            named = {"field": "Authorization"} | ({"claim": exc.claim} if exc.claim else {})
            return self._refuse(401, exc.reason, {"error": "unauthorized", **named}, client=client, detail=str(exc),
                                headers={"WWW-Authenticate": "Bearer"})
        except KeysUnavailable as exc:
            return self._refuse(503, "keys_unavailable", {"error": "unavailable"}, client=client, detail=str(exc),
                                headers={"Retry-After": str(self.settings.retry_after_seconds)})
        except BodyTooLarge as exc:
            return self._refuse(413, "too_large", {"error": "payload too large", "field": "body",
                                                   "limit": self.settings.max_body_bytes},
                                client=client, detail=str(exc))
        except InvalidBody as exc:
            reason = "invalid_json" if exc.status == 400 else "invalid_lead"
            return self._refuse(exc.status, reason, exc.body, client=client, detail=exc.body.get("error", ""))
        if any(len(value or b"") > MAX_RECORD_BYTES for _, value, _ in records):
            return self._refuse(413, "lead_too_large", {"error": "payload too large", "field": "lead",
                                                        "limit": MAX_RECORD_BYTES}, client=client,
                                detail="one lead exceeds Kafka's record size")
        return await self._publish(records, accepted, claims, client)

    async def _authenticate(self, authorization: str | None) -> Claims:
        token = bearer_token(authorization)
        hook = self.settings

        def verify(keys: Keys) -> Claims:
            return verify_token(token, keys, allowed_roles=hook.allowed_roles, leeway=hook.leeway_seconds,
                                audience=hook.audience, issuer=hook.issuer)

        try:
            return verify(await self._keys.keys())
        except AuthFailure as exc:
            if exc.reason != "unknown_key" or not self._keys.can_refresh():
                raise
        # A kid we do not know may be a rotated key: fetch the JWKS again, once.
        return verify(await self._keys.keys(refresh=True))

    async def _publish(self, records: list[KafkaRecord], accepted: Accepted, claims: Claims,
                       client: str | None) -> Response:
        if accepted.echoes:
            self._metrics.webhook_echoes_dropped(accepted.echoes)
        if not records:
            log.info("webhook: echo dropped", leads=accepted.echoes, role=claims.role)
            return _json(200, {"status": "ignored", "ignored": accepted.echoes,
                               "reason": "written by TabuladorMax (its own echo)"})
        started = time.perf_counter()
        try:
            await self._publisher.publish(records)
        except PublishUnavailable as exc:
            return self._refuse(503, "kafka_unavailable", {"error": "unavailable"}, client=client, detail=str(exc),
                                headers={"Retry-After": str(exc.retry_after)})
        except PublishRejected as exc:
            log.error("webhook: Kafka refused the events", error=str(exc), leads=len(records))
            return self._refuse(500, "kafka_rejected", {"error": "publish failed"}, client=client, detail=str(exc))
        self._metrics.webhook_published(len(records), time.perf_counter() - started)
        log.debug("webhook: published", leads=len(records), ignored=accepted.echoes, role=claims.role,
                  subject=claims.subject)
        return _json(202, {"status": "accepted", "published": len(records), "ignored": accepted.echoes})

    def _refuse(self, status: int, reason: str, body: dict[str, Any], *, client: str | None, detail: str,
                headers: dict[str, str] | None = None) -> Response:
        # The detail never holds the token or a lead's values: reasons, sizes, field names only.
        self._metrics.webhook_rejected(reason)
        log.warning("webhook: request refused", status=status, reason=reason, detail=detail, client=client)
        return _json(status, body, headers)


def openapi_path(path: str) -> str:
    """`/functions/v1/sync-from-gestao-scouter` -> `/functions/v1/openapi.json`."""
    return f"{path.rsplit('/', 1)[0]}/openapi.json"


def webhook_routes(handler: WebhookHandler) -> list[BaseRoute]:
    """The endpoint and its OpenAPI document, to mount on the service's HTTP app."""
    path = handler.settings.path
    document = openapi_document(path)

    async def openapi(_: Request) -> Response:
        return JSONResponse(document)

    return [Route(path, handler.endpoint, methods=["POST"]), Route(openapi_path(path), openapi, methods=["GET"])]
