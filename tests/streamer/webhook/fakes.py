"""Test doubles of the bridge's own interfaces (not of Kafka), and token makers."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette

from schemas.event import KafkaRecord
from streamer.metrics import Metrics
from streamer.sections import WebhookSettings
from streamer.webhook.app import WebhookHandler, webhook_routes
from streamer.webhook.auth import Keys
from streamer.webhook.keys import KeySource, StaticKeys

SECRET = "test-jwt-secret-that-is-long-enough-for-hs256"
PATH = "/functions/v1/sync-from-gestao-scouter"
UPDATED_AT = "2025-03-01T12:00:00+00:00"


class FakePublisher:
    """Records what it is asked to publish; raises `error` instead when given one."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.published: list[list[KafkaRecord]] = []

    async def publish(self, records: Sequence[KafkaRecord]) -> None:
        if self.error is not None:
            raise self.error
        self.published.append(list(records))

    @property
    def records(self) -> list[KafkaRecord]:
        return [r for batch in self.published for r in batch]


def hs_token(role: str = "service_role", *, exp_in: float = 3600, secret: str = SECRET, **claims: Any) -> str:
    payload = {"role": role, "exp": int(time.time() + exp_in), "iss": "supabase", **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def jwk_of(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    """The public JWK of `private`, as a JWKS would list it."""
    if isinstance(private, rsa.RSAPrivateKey):
        data = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
        alg = "RS256"
    else:
        data = jwt.algorithms.ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
        alg = "ES256"
    return {**data, "kid": kid, "alg": alg, "use": "sig"}


def signed_token(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str | None, *,
                 role: str = "service_role", exp_in: float = 3600) -> str:
    alg = "RS256" if isinstance(private, rsa.RSAPrivateKey) else "ES256"
    headers = {"kid": kid} if kid else None
    return jwt.encode({"role": role, "exp": int(time.time() + exp_in)}, private, algorithm=alg, headers=headers)


def write_jwks(path: Path, *keys: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"keys": list(keys)}), encoding="utf-8")
    return path


def lead(id: int = 4242, **columns: Any) -> dict[str, Any]:
    return {"id": id, "name": "Ana", "updated_at": UPDATED_AT, "sync_source": "gestao_scouter", **columns}


def build_app(publisher: Any, *, settings: WebhookSettings | None = None, keys: KeySource | None = None,
              metrics: Metrics | None = None) -> tuple[Starlette, Metrics]:
    """An app holding only the webhook's routes, over `publisher`."""
    metrics = metrics or Metrics()
    handler = WebhookHandler(keys=keys or StaticKeys(Keys(hs256_secret=SECRET)), publisher=publisher,
                             settings=settings or WebhookSettings(), metrics=metrics)
    return Starlette(routes=webhook_routes(handler)), metrics


def client_of(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bridge.test")


def build_client(publisher: Any, *, settings: WebhookSettings | None = None, keys: KeySource | None = None,
                 metrics: Metrics | None = None) -> tuple[httpx.AsyncClient, Metrics]:
    """An in-process client of an app holding only the webhook's routes."""
    app, metrics = build_app(publisher, settings=settings, keys=keys, metrics=metrics)
    return client_of(app), metrics


def auth(token: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token or hs_token()}"}
