"""`streamer check`'s destination row, against `httpx.MockTransport`: the request it sends, the verdicts."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from connectors.postgrest.settings import DestinationSettings
from streamer.check import check_destination
from streamer.config import Settings
from streamer.errors import CheckFailed

KEY = "service-key-abc.def.ghi"  # not a JWT: no role to object to


def settings() -> Settings:
    return Settings(destination=DestinationSettings(url="https://gestao.example.co", service_key=SecretStr(KEY)))


def answering(status: int, body: Any, seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handler)


async def test_the_check_reads_the_api_root_once_with_the_key():
    """One GET of the API root, with the key in `apikey` and `Authorization`; the table is reported visible."""
    seen: list[httpx.Request] = []
    detail = await check_destination(settings(), transport=answering(200, {"definitions": {"leads": {}}}, seen))
    (request,) = seen
    assert request.method == "GET"
    assert str(request.url) == "https://gestao.example.co/rest/v1/"
    assert request.headers["apikey"] == KEY
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert detail == "https://gestao.example.co/rest/v1 answers, table leads visible"


async def test_a_refused_key_fails_with_the_status():
    """An answer other than 200 fails the row with its status."""
    with pytest.raises(CheckFailed, match="answered 401"):
        await check_destination(settings(), transport=answering(401, {"message": "JWT invalid"}, []))


async def test_a_table_missing_from_the_document_fails():
    """A document without the table fails the row, naming the table."""
    with pytest.raises(CheckFailed, match="table leads not visible"):
        await check_destination(settings(), transport=answering(200, {"definitions": {}}, []))
