"""The PostgREST client against `httpx.MockTransport` (requests sent, errors translated, key kept secret)
and, once, against the real dev server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import unquote

import httpx
import orjson
import pytest
from pydantic import SecretStr

from connectors.postgrest.client import PostgrestClient, key_headers, parse_retry_after, quote_columns
from connectors.postgrest.errors import (
    PostgrestAuthError,
    PostgrestBadResponse,
    PostgrestConfigError,
    PostgrestDestinationFault,
    PostgrestError,
    PostgrestRejected,
    PostgrestSchemaDrift,
    PostgrestUnavailable,
)
from connectors.postgrest.settings import DestinationSettings
from devstack.stack import Endpoints

KEY = "service-key-abc.def.ghi"
URL = "https://gestao.example.co/rest/v1"

Handler = Callable[[httpx.Request], httpx.Response]


def _client(handler: Handler, url: str = URL) -> PostgrestClient:
    return PostgrestClient(url, SecretStr(KEY), transport=httpx.MockTransport(handler))


def _recorder(response: httpx.Response | None = None) -> tuple[list[httpx.Request], Handler]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return response or httpx.Response(201)

    return seen, handler


def _error(status: int, code: str | None = None, message: str = "boom", **extra: object) -> Handler:
    body = {"code": code, "details": extra.pop("details", None), "hint": extra.pop("hint", None), "message": message}
    headers = {str(k).replace("_", "-"): str(v) for k, v in extra.items()}
    return lambda request: httpx.Response(status, json=body, headers=headers)


async def test_upsert_sends_a_merge_duplicates_post():
    """An upsert POSTs the rows with on_conflict, columns=, Prefer and both key headers."""
    seen, handler = _recorder()
    async with _client(handler) as client:
        await client.upsert("leads", [{"id": 1, "name": "Ana"}], columns=("id", "name"))
    (request,) = seen
    assert request.method == "POST"
    assert request.url.path == "/rest/v1/leads"
    assert request.url.params["on_conflict"] == "id"
    assert request.url.params["columns"] == '"id","name"'
    assert request.headers["Prefer"] == "resolution=merge-duplicates,return=minimal"
    assert request.headers["apikey"] == KEY
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert orjson.loads(request.content) == [{"id": 1, "name": "Ana"}]


async def test_upsert_without_columns_sends_no_columns_param():
    """Without `columns`, the query string has only on_conflict."""
    seen, handler = _recorder()
    async with _client(handler) as client:
        await client.upsert("leads", [{"id": 1}], on_conflict="lead_id")
    assert dict(seen[0].url.params) == {"on_conflict": "lead_id"}


async def test_upsert_of_nothing_sends_nothing():
    """An empty row list makes no request."""
    seen, handler = _recorder()
    async with _client(handler) as client:
        await client.upsert("leads", [])
    assert seen == []


async def test_delete_chunks_long_id_lists():
    """250 ids go out as three DELETEs with `id=in.(…)` filters of at most 100 ids."""
    seen, handler = _recorder(httpx.Response(204))
    async with _client(handler) as client:
        await client.delete("leads", list(range(1, 251)))
    assert [r.method for r in seen] == ["DELETE"] * 3
    filters = [r.url.params["id"] for r in seen]
    assert filters[0] == "in.(" + ",".join(str(i) for i in range(1, 101)) + ")"
    assert filters[2].startswith("in.(201,") and filters[2].endswith(",250)")
    assert all(r.headers["Prefer"] == "return=minimal" for r in seen)


async def test_select_returns_rows():
    """A select passes its query parameters and returns the JSON rows."""
    seen, handler = _recorder(httpx.Response(200, json=[{"id": 1}]))
    async with _client(handler) as client:
        rows = await client.select("leads", {"select": "id", "id": "eq.1"})
    assert rows == [{"id": 1}]
    assert dict(seen[0].url.params) == {"select": "id", "id": "eq.1"}


async def test_openapi_reads_the_api_root():
    """openapi() GETs `{rest_url}/` and returns the document."""
    seen, handler = _recorder(httpx.Response(200, json={"swagger": "2.0", "definitions": {}}))
    async with _client(handler) as client:
        doc = await client.openapi()
    assert doc["swagger"] == "2.0"
    assert seen[0].url.path == "/rest/v1/"


async def test_openapi_that_is_not_json_is_a_bad_response():
    """A 200 with an HTML body (a proxy's page) raises PostgrestBadResponse."""
    async with _client(lambda r: httpx.Response(200, text="<html>")) as client:
        with pytest.raises(PostgrestBadResponse):
            await client.openapi()


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (503, "PGRST002", PostgrestUnavailable),
        (504, "PGRST003", PostgrestUnavailable),
        (500, "57014", PostgrestUnavailable),
        (544, None, PostgrestUnavailable),
        (429, None, PostgrestUnavailable),
        (408, None, PostgrestUnavailable),
        (500, "21000", PostgrestRejected),
        (500, "54000", PostgrestRejected),
        (400, "P0001", PostgrestRejected),
        (500, "P0002", PostgrestRejected),
        (500, "P0003", PostgrestRejected),
        (500, "P0004", PostgrestRejected),
        (500, "42P17", PostgrestRejected),
        (500, "40001", PostgrestUnavailable),
        (500, "40P01", PostgrestUnavailable),
        (503, "53300", PostgrestUnavailable),
        (503, "PGRST000", PostgrestUnavailable),
        (503, "57P01", PostgrestUnavailable),
        (500, None, PostgrestUnavailable),
        (405, "25006", PostgrestDestinationFault),
        (404, None, PostgrestDestinationFault),
        (404, "42P01", PostgrestDestinationFault),
        (404, "42883", PostgrestDestinationFault),
        (404, "PGRST125", PostgrestDestinationFault),
        (301, None, PostgrestDestinationFault),
        (307, None, PostgrestDestinationFault),
        (405, None, PostgrestDestinationFault),
        (414, None, PostgrestDestinationFault),
        (400, "PGRST100", PostgrestDestinationFault),
        (406, "PGRST106", PostgrestDestinationFault),
        (401, "PGRST301", PostgrestAuthError),
        (403, "42501", PostgrestAuthError),
        (400, "PGRST204", PostgrestSchemaDrift),
        (404, "PGRST205", PostgrestSchemaDrift),
        (400, "42703", PostgrestSchemaDrift),
        (400, "42P10", PostgrestSchemaDrift),
        (409, "23505", PostgrestRejected),
        (409, "23503", PostgrestRejected),
        (400, "22P02", PostgrestRejected),
        (400, "PGRST102", PostgrestDestinationFault),
        (400, None, PostgrestRejected),
        (413, None, PostgrestRejected),
    ],
)
async def test_error_responses_are_classified(status: int, code: str | None, cls: type[PostgrestError]):
    """Each documented error status/code pair raises the matching class (docs/postgrest.md §2, §6)."""
    async with _client(_error(status, code)) as client:
        with pytest.raises(cls) as info:
            await client.upsert("leads", [{"id": 1}])
    assert info.value.status == status
    assert info.value.code == code
    assert info.value.retriable is (cls is PostgrestUnavailable)


async def test_error_fields_are_kept():
    """The error carries PostgREST's code, message, details, hint and the body; details stay out of str()."""
    handler = _error(400, "23502", "null value in column \"name\"", details="Failing row contains (1, null).",
                     hint="fill it")
    async with _client(handler) as client:
        with pytest.raises(PostgrestRejected) as info:
            await client.upsert("leads", [{"id": 1}])
    error = info.value
    assert (error.code, error.hint, error.details) == ("23502", "fill it", "Failing row contains (1, null).")
    assert error.message.endswith('null value in column "name"')
    assert "Failing row" not in str(error)
    assert '"code":"23502"' in error.body


async def test_retry_after_is_parsed():
    """A 503's Retry-After header becomes `retry_after` in seconds."""
    async with _client(_error(503, "PGRST002", Retry_After="7")) as client:
        with pytest.raises(PostgrestUnavailable) as info:
            await client.upsert("leads", [{"id": 1}])
    assert info.value.retry_after == 7.0


async def test_gateway_html_error_is_still_classified():
    """A non-JSON error page keeps its status class and its (truncated) text as the body."""
    async with _client(lambda r: httpx.Response(502, text="<html>" + "x" * 5000)) as client:
        with pytest.raises(PostgrestUnavailable) as info:
            await client.upsert("leads", [{"id": 1}])
    assert info.value.code is None
    assert len(info.value.body) == 2000


@pytest.mark.parametrize("exc", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"),
                                 httpx.RemoteProtocolError("eof")])
async def test_network_errors_are_unavailable(exc: httpx.TransportError):
    """Transport failures become retriable PostgrestUnavailable with no status, chained to the cause."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    async with _client(handler) as client:
        with pytest.raises(PostgrestUnavailable) as info:
            await client.upsert("leads", [{"id": 1}])
    assert info.value.status is None
    assert info.value.retriable
    assert info.value.__cause__ is exc


async def test_service_key_never_appears_in_errors_or_repr():
    """Even when the server echoes the key, no message, repr or body contains it."""
    handler = _error(401, "PGRST301", f"bad token {KEY}", hint=f"key {KEY}")
    async with _client(handler) as client:
        assert KEY not in repr(client)
        with pytest.raises(PostgrestAuthError) as info:
            await client.upsert("leads", [{"id": 1}])
    error = info.value
    for text in (str(error), repr(error), error.body, error.message, str(error.hint)):
        assert KEY not in text


async def test_service_key_is_scrubbed_from_transport_errors():
    """A transport error whose text holds the key is scrubbed too."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"failed with {KEY}")

    async with _client(handler) as client:
        with pytest.raises(PostgrestUnavailable) as info:
            await client.upsert("leads", [{"id": 1}])
    assert KEY not in str(info.value)


def test_plain_http_to_a_remote_host_is_refused():
    """The client refuses http:// to a non-loopback host, without echoing the key."""
    with pytest.raises(PostgrestConfigError) as info:
        PostgrestClient("http://gestao.example.co/rest/v1", KEY)
    assert KEY not in str(info.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:54330", "http://localhost:3000/rest/v1", "http://[::1]:3000"])
async def test_plain_http_to_loopback_is_allowed(url: str):
    """Loopback URLs may use plain HTTP (the local stack): the request goes out over http:// to that host."""
    seen, handler = _recorder(httpx.Response(200, json=[]))
    async with _client(handler, url) as client:
        await client.select("leads", {"limit": "0"})
    (request,) = seen
    assert str(request.url) == f"{url}/leads?limit=0"


async def test_allow_http_permits_a_private_network():
    """`allow_http` lets plain HTTP reach a named host, as DestinationSettings allows."""
    seen, handler = _recorder(httpx.Response(200, json=[]))
    async with PostgrestClient("http://postgrest:3000", KEY, allow_http=True,
                               transport=httpx.MockTransport(handler)) as client:
        await client.select("leads", {"limit": "0"})
    (request,) = seen
    assert str(request.url) == "http://postgrest:3000/leads?limit=0"


@pytest.mark.integration
async def test_the_dev_server_answers_over_plain_http_on_loopback(services: Endpoints):
    """Against the real dev server on loopback, the client reads the OpenAPI document and the leads table."""
    async with PostgrestClient(services.postgrest_url, services.service_key) as client:
        document = await client.openapi()
        rows = await client.select("leads", {"select": "id", "limit": "1"})
    assert "leads" in document["definitions"]
    assert isinstance(rows, list)


async def test_request_hands_back_an_error_answer_with_the_key_headers():
    """`request` (for diagnostics) sends both key headers and returns a 4xx answer instead of raising."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404, json={"code": "PGRST202", "message": "no function"})

    async with _client(handler) as client:
        response = await client.request("POST", "rpc/reload", content=b"{}")
    assert response.status_code == 404
    (request,) = seen
    assert str(request.url) == f"{URL}/rpc/reload"
    assert request.headers["apikey"] == KEY
    assert request.headers["Authorization"] == f"Bearer {KEY}"


def test_key_headers_present_the_key_twice():
    """The gateway reads `apikey`, PostgREST the bearer token: both carry the key."""
    assert key_headers(KEY) == {"apikey": KEY, "Authorization": f"Bearer {KEY}"}


def test_empty_key_is_refused():
    """A client without a key cannot be built."""
    with pytest.raises(PostgrestConfigError):
        PostgrestClient(URL, "")


async def test_from_settings_uses_rest_url_and_timeout():
    """from_settings joins url and rest_path and takes the timeout from settings."""
    seen, handler = _recorder(httpx.Response(200, json=[]))
    settings = DestinationSettings(url="https://gestao.example.co", service_key=SecretStr(KEY), timeout_seconds=12)
    async with PostgrestClient.from_settings(settings, transport=httpx.MockTransport(handler)) as client:
        await client.select("leads", {"limit": "0"})
        assert client.rest_url == URL
    assert seen[0].url.path == "/rest/v1/leads"
    assert seen[0].extensions["timeout"]["read"] == 12


def test_from_settings_without_key_is_refused():
    """Settings without a service key name the variable to set."""
    with pytest.raises(PostgrestConfigError, match="SERVICE_KEY"):
        PostgrestClient.from_settings(DestinationSettings())


async def test_closing_closes_the_pool():
    """Leaving the context manager closes the underlying httpx client."""
    _, handler = _recorder()
    client = _client(handler)
    async with client:
        pass
    with pytest.raises(RuntimeError):
        await client.upsert("leads", [{"id": 1}])


async def test_upsert_with_a_column_name_columns_cannot_hold_sends_no_columns_param():
    """A name with `"` or `,` cannot be written in `columns=`; rows that all have exactly those
    keys say the same in the body, so the parameter is left out instead of raising ValueError."""
    seen, handler = _recorder()
    rows = [{"id": 1, 'a"b': 1, "c,d": 2}, {"id": 2, 'a"b': 3, "c,d": 4}]
    async with _client(handler) as client:
        await client.upsert("leads", rows, columns=("id", 'a"b', "c,d"))
    (request,) = seen
    assert dict(request.url.params) == {"on_conflict": "id"}
    assert orjson.loads(request.content) == rows


async def test_upsert_with_a_column_name_columns_cannot_hold_and_other_keys_is_rejected():
    """When the rows' keys differ from the columns asked for, the request cannot be expressed:
    it is refused as this request's fault (a PostgrestError, so the sink files the rows), and
    nothing is sent."""
    seen, handler = _recorder()
    async with _client(handler) as client:
        with pytest.raises(PostgrestRejected, match="cannot be sent in columns="):
            await client.upsert("leads", [{"id": 1}, {"id": 2, 'a"b': 1}], columns=("id", 'a"b'))
    assert seen == []


def test_quote_columns():
    """Columns are double-quoted and comma-joined, as supabase-js sends them; odd names are refused."""
    assert unquote(quote_columns(["id", "name"])) == '"id","name"'
    with pytest.raises(ValueError):
        quote_columns([])
    with pytest.raises(ValueError):
        quote_columns(['a"b'])


def test_parse_retry_after_forms():
    """Retry-After parses as seconds or as an HTTP date; junk gives None."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(later, now=now.timestamp()) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-3") == 0.0
