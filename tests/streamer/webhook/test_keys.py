"""JWKS fetched from a URL: cached, refreshed once for an unknown kid, kept when a fetch fails."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from streamer.webhook.auth import Keys
from streamer.webhook.errors import KeysUnavailable
from streamer.webhook.keys import MIN_REFRESH_SECONDS, RemoteJwks
from tests.streamer.webhook.fakes import jwk_of, rsa_key

URL = "https://gs.example.supabase.co/auth/v1/.well-known/jwks.json"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def serving(documents: list[Any]) -> tuple[httpx.MockTransport, list[int]]:
    """A transport answering each GET with the next document (an int is an error status)."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        doc = documents[min(len(calls), len(documents)) - 1]
        return httpx.Response(doc) if isinstance(doc, int) else httpx.Response(200, json=doc)

    return httpx.MockTransport(handler), calls


async def test_keys_are_fetched_once_and_cached() -> None:
    """Two lookups within the cache time fetch the URL once."""
    transport, calls = serving([{"keys": [jwk_of(rsa_key(), "k1")]}])
    source = RemoteJwks(URL, Keys(), ttl=300, transport=transport, clock=Clock())
    first = await source.keys()
    second = await source.keys()
    assert [k.key_id for k in first.jwks] == ["k1"] and second == first and len(calls) == 1


async def test_an_unknown_kid_refreshes_at_most_every_min_refresh_seconds() -> None:
    """A refresh request fetches again only once MIN_REFRESH_SECONDS have passed."""
    clock = Clock()
    transport, calls = serving([{"keys": [jwk_of(rsa_key(), "k1")]}, {"keys": [jwk_of(rsa_key(), "k2")]}])
    source = RemoteJwks(URL, Keys(), ttl=300, transport=transport, clock=clock)
    await source.keys()
    assert not source.can_refresh()
    await source.keys(refresh=True)
    assert len(calls) == 1
    clock.now += MIN_REFRESH_SECONDS
    rotated = await source.keys(refresh=True)
    assert [k.key_id for k in rotated.jwks] == ["k2"] and len(calls) == 2


async def test_a_failed_refresh_keeps_the_last_keys() -> None:
    """When the URL fails after a good fetch, the cached keys stay in use."""
    clock = Clock()
    transport, _ = serving([{"keys": [jwk_of(rsa_key(), "k1")]}, 500])
    source = RemoteJwks(URL, Keys(), ttl=60, transport=transport, clock=clock)
    await source.keys()
    clock.now += 120
    assert [k.key_id for k in (await source.keys()).jwks] == ["k1"]


async def test_no_keys_ever_fetched_is_unavailable() -> None:
    """A URL that never answered with a JWKS makes verification unavailable (503, not 401)."""
    transport, _ = serving([503])
    source = RemoteJwks(URL, Keys(), ttl=60, transport=transport, clock=Clock())
    with pytest.raises(KeysUnavailable):
        await source.keys()
