"""Where the bridge's verification keys come from (settings.webhook): the project's HS256
secret, a JWKS file, and/or a JWKS URL (a newer Supabase project publishes its signing keys at
`https://<project>.supabase.co/auth/v1/.well-known/jwks.json`).

A URL's keys are cached for `jwks_cache_seconds`; a token naming an unknown `kid` triggers one
early refresh (key rotation), at most every `MIN_REFRESH_SECONDS`, so bogus kids cannot make us
hammer the URL. When a refresh fails the last keys are kept.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt

from streamer.errors import ConfigError
from streamer.logging import get_logger
from streamer.sections import WebhookSettings
from streamer.webhook.auth import Keys
from streamer.webhook.errors import KeysUnavailable

log = get_logger(__name__)
MIN_REFRESH_SECONDS = 30.0


class KeySource(Protocol):
    async def keys(self, *, refresh: bool = False) -> Keys:
        """The keys to verify with; `refresh` asks for a fresh copy (a token named an unknown kid)."""
        ...

    def can_refresh(self) -> bool: ...


def parse_jwks(document: Mapping[str, Any]) -> tuple[jwt.PyJWK, ...]:
    """The signing keys of a JWKS document (`{"keys": [...]}`); encryption keys are left out."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise ValueError("a JWKS document needs a 'keys' list")
    signing = [k for k in entries if isinstance(k, dict) and k.get("use", "sig") == "sig"]
    try:
        return tuple(jwt.PyJWKSet(signing).keys)
    except jwt.PyJWTError as exc:
        raise ValueError(f"no usable signing key in the JWKS ({exc})") from None


class StaticKeys:
    """The secret and a JWKS file, read once."""

    def __init__(self, keys: Keys) -> None:
        self._keys = keys

    async def keys(self, *, refresh: bool = False) -> Keys:
        return self._keys

    def can_refresh(self) -> bool:
        return False


class RemoteJwks:
    """Keys fetched from a JWKS URL (plus any static ones), cached."""

    def __init__(self, url: str, static: Keys, *, ttl: float, transport: httpx.AsyncBaseTransport | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._url, self._static, self._ttl, self._clock = url, static, ttl, clock
        self._transport = transport
        self._fetched: tuple[jwt.PyJWK, ...] | None = None
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    def can_refresh(self) -> bool:
        return self._clock() - self._fetched_at >= MIN_REFRESH_SECONDS

    async def keys(self, *, refresh: bool = False) -> Keys:
        stamp = self._fetched_at
        wanted = self._fetched is None or refresh or self._clock() - stamp >= self._ttl
        if wanted and self.can_refresh():
            async with self._lock:
                if self._fetched_at == stamp:  # nobody fetched while we waited for the lock
                    await self._fetch()
        if self._fetched is None:
            raise KeysUnavailable("the JWKS URL could not be read and no keys are cached")
        return Keys(hs256_secret=self._static.hs256_secret, jwks=self._static.jwks + self._fetched)

    async def _fetch(self) -> None:
        self._fetched_at = self._clock()
        try:
            async with httpx.AsyncClient(transport=self._transport, timeout=10.0) as client:
                response = await client.get(self._url)
                response.raise_for_status()
                self._fetched = parse_jwks(response.json())
            log.info("jwks fetched", url=self._url, keys=len(self._fetched))
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("jwks fetch failed; keeping the last keys", url=self._url, error=str(exc),
                        cached=self._fetched is not None)


def key_source(settings: WebhookSettings, transport: httpx.AsyncBaseTransport | None = None) -> KeySource:
    """The key source the settings describe, or ConfigError naming what is missing or wrong."""
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    file_keys: tuple[jwt.PyJWK, ...] = ()
    if settings.jwks_file is not None:
        file_keys = _read_jwks_file(settings.jwks_file)
    if not (secret or file_keys or settings.jwks_url):
        raise ConfigError(["STREAMER_WEBHOOK__JWT_SECRET, __JWKS_FILE or __JWKS_URL: the webhook needs "
                           "at least one way to verify callers' tokens"])
    static = Keys(hs256_secret=secret, jwks=file_keys)
    if settings.jwks_url:
        return RemoteJwks(settings.jwks_url, static, ttl=settings.jwks_cache_seconds, transport=transport)
    return StaticKeys(static)


def _read_jwks_file(path: Path) -> tuple[jwt.PyJWK, ...]:
    try:
        return parse_jwks(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ConfigError([f"STREAMER_WEBHOOK__JWKS_FILE ({path}): {exc}"]) from None
