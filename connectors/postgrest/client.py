"""The one async client of the destination's PostgREST API: bulk upserts, deletes by id, reads, the
OpenAPI root, and single requests for diagnostics that report an answer rather than raise on it.

    async with PostgrestClient.from_settings(settings.destination) as client:
        await client.upsert("leads", rows, columns=("id", "name"))
        await client.delete("leads", [7, 8])

The client owns pooled keep-alive `httpx.AsyncClient`s over `StreamTransport` (transport.py:
httpx's own costs ≈ 1 ms of CPU more per request); tests pass `transport=` (for example
`httpx.MockTransport`). Every failure of the typed methods leaves as a
`connectors.postgrest.errors.PostgrestError`; `request` returns any answer and leaves a transport
failure as httpx's own error.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any, Self
from urllib.parse import urlsplit

import httpx
import orjson
from pydantic import SecretStr

from connectors.net import is_loopback
from connectors.postgrest.errors import (
    PostgrestBadResponse,
    PostgrestConfigError,
    PostgrestError,
    PostgrestRejected,
    PostgrestUnavailable,
    error_class_for,
)
from connectors.postgrest.settings import DestinationSettings
from connectors.postgrest.transport import StreamTransport
from connectors.redaction import scrub
from schemas import json_bytes

# docs/postgrest.md §1.3/§1.4: upsert is enabled only by `resolution=merge-duplicates`; `return=minimal`
# keeps the response body empty (we never need the rows back).
PREFER_UPSERT = "resolution=merge-duplicates,return=minimal"
PREFER_MINIMAL = "return=minimal"
OPENAPI_ACCEPT = "application/openapi+json, application/json"
# docs/postgrest.md §6: long `in.(…)` filters fail at the proxy with "URI too long"; 100 bigint ids
# keep a DELETE URL near 1.5 kB.
DELETE_CHUNK = 100
# Upsert URLs built once per (table, on_conflict, columns): httpx parses and percent-checks a URL
# character by character, ≈ 0.3 ms for a 49-column `columns=` (README, Performance). Bounded: a
# table has one key set in practice, a few while its schema changes.
URL_CACHE_SIZE = 64
# Connections per pool ("lane"). httpcore's pool scans every connection it holds, and every queued
# request against each, at each request's start and end: with the sink's 32 batches in flight on
# one pool of 64, that was ≈ 5.5 ms of CPU per request, against ≈ 2 ms with 8 in flight. So the
# client keeps `max_connections / LANE_SIZE` pools and sends each request on the least busy one.
# The requests now go through `StreamTransport`, whose pool does no such scan, but a proxied URL
# still goes through httpx's own transport (httpcore), so the lanes stay.
LANE_SIZE = 4


class PostgrestClient:
    """PostgREST at `rest_url` (e.g. `https://xyz.supabase.co/rest/v1`), as the service role."""

    def __init__(
        self,
        rest_url: str,
        service_key: SecretStr | str,
        *,
        timeout: float = 30.0,
        allow_http: bool = False,
        max_connections: int = 8,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """`headers` are sent with every request, beside the key's."""
        key = service_key.get_secret_value() if isinstance(service_key, SecretStr) else service_key
        if not key:
            raise PostgrestConfigError("the destination service key is empty")
        _check_url(rest_url, allow_http=allow_http)
        self.rest_url = rest_url.rstrip("/")
        self._secrets = (key,)
        self._urls: dict[tuple[str, tuple[tuple[str, str], ...]], httpx.URL] = {}
        lanes = max(1, math.ceil(max_connections / LANE_SIZE))
        per_lane = min(max_connections, LANE_SIZE)
        ssl_context = httpx.create_ssl_context()  # one for every lane (each would load the CA bundle)
        self._lanes = [
            httpx.AsyncClient(
                base_url=self.rest_url + "/",
                headers={**(headers or {}), **key_headers(key)},
                timeout=httpx.Timeout(timeout),
                limits=httpx.Limits(max_connections=per_lane, max_keepalive_connections=per_lane),
                transport=transport or StreamTransport(ssl_context, per_lane),
                verify=ssl_context,
            )
            for _ in range(lanes)
        ]
        self._busy = [0] * lanes  # requests in flight per lane
        self._http = self._lanes[0]  # builds URLs; any lane would do

    @classmethod
    def from_settings(
        cls, settings: DestinationSettings, *, max_connections: int = 8,
        transport: httpx.AsyncBaseTransport | None = None, headers: Mapping[str, str] | None = None,
    ) -> Self:
        if settings.service_key is None:
            raise PostgrestConfigError("no destination service key (STREAMER_DESTINATION__SERVICE_KEY)")
        return cls(settings.rest_url, settings.service_key, timeout=settings.timeout_seconds,
                   allow_http=settings.allow_http, max_connections=max_connections, transport=transport,
                   headers=headers)

    def __repr__(self) -> str:
        return f"PostgrestClient(rest_url={self.rest_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for lane in self._lanes:
            await lane.aclose()

    async def upsert(
        self, table: str, rows: Sequence[Mapping[str, Any]], on_conflict: str = "id",
        columns: Sequence[str] | None = None,
    ) -> None:
        """Merge `rows` into `table` in one statement (all or nothing, docs/postgrest.md §1.6).

        Without `columns` every row must have the same keys (else 400 PGRST102, §1.2). With
        `columns`, PostgREST inserts exactly those: extra keys are ignored and a missing key
        writes NULL, also over an existing row (§1.8), so pass the rows' own common key set.
        """
        if not rows:
            return
        params = {"on_conflict": on_conflict}
        if columns is not None and (quoted := columns_param(rows, columns)) is not None:
            params["columns"] = quoted
        # held until the answer: exact size (schemas/json_bytes.py)
        body = json_bytes.dumps(rows if type(rows) is list else list(rows), default=str)
        await self._send("POST", self._url(table, params), action=f"upserting {len(rows)} rows into {table}",
                         content=body, headers=_UPSERT_HEADERS)

    async def delete(self, table: str, ids: Sequence[int], *, key: str = "id", chunk: int = DELETE_CHUNK) -> None:
        """Delete the rows whose `key` is in `ids`, `chunk` ids per request; absent ids are fine."""
        for start in range(0, len(ids), chunk):
            part = ids[start:start + chunk]
            values = ",".join(str(int(i)) for i in part)
            await self._send("DELETE", table, action=f"deleting {len(part)} rows from {table}",
                             params={key: f"in.({values})"}, headers={"Prefer": PREFER_MINIMAL})

    async def select(self, table: str, params: Mapping[str, str] | Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """GET `table` with PostgREST query parameters; note `db-max-rows` truncates silently (§6)."""
        response = await self._send("GET", table, action=f"reading {table}", params=params)
        data = self._json(response, f"reading {table}")
        if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
            raise PostgrestBadResponse(f"reading {table}: expected a JSON array of objects",
                                       status=response.status_code)
        return data

    async def rpc(self, function: str, args: Mapping[str, Any]) -> Any:
        """POST /rpc/`function` with `args` as its named arguments; the decoded JSON answer. Like a
        read, a set-returning function's rows are cut at `db-max-rows` without notice (§6)."""
        action = f"calling {function}"
        response = await self._send("POST", f"rpc/{function}", action=action, content=orjson.dumps(dict(args)),
                                    headers={"Content-Type": "application/json"})
        return self._json(response, action)

    async def openapi(self) -> dict[str, Any]:
        """The Swagger 2.0 document at the API root (docs/postgrest.md §5); needs the service key."""
        response = await self._send("GET", "", action="reading the OpenAPI document",
                                    headers={"Accept": OPENAPI_ACCEPT})
        data = self._json(response, "reading the OpenAPI document")
        if not isinstance(data, dict):
            raise PostgrestBadResponse("reading the OpenAPI document: expected a JSON object",
                                       status=response.status_code)
        return data

    async def request(
        self, method: str, path: str | httpx.URL, *, params: Any = None, content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One request to `path` under the API root, answered whatever its status (for diagnostics,
        which report an answer rather than raise on it); a transport failure raises httpx's error."""
        busy = self._busy
        lane = busy.index(min(busy))
        busy[lane] += 1
        try:
            return await self._lanes[lane].request(method, path, params=params, content=content, headers=headers)
        finally:
            busy[lane] -= 1

    def _url(self, path: str, params: Mapping[str, str]) -> httpx.URL:
        """The absolute URL of `path` with `params`, as httpx would build it, from the cache."""
        key = (path, tuple(params.items()))
        url = self._urls.get(key)
        if url is None:
            if len(self._urls) >= URL_CACHE_SIZE:
                self._urls.clear()
            url = self._urls[key] = self._http.build_request("GET", path, params=params).url
        return url

    def redact(self, text: str) -> str:
        """`text` with the service key scrubbed out (for a detail that quotes a request or an error)."""
        return scrub(text, self._secrets)

    async def _send(
        self, method: str, path: str | httpx.URL, *, action: str, params: Any = None, content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        with self._translate_transport_errors(action):
            response = await self.request(method, path, params=params, content=content, headers=headers)
        if response.is_success:
            return response
        raise self._error(response, action)

    @contextmanager
    def _translate_transport_errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except httpx.TimeoutException as exc:
            raise PostgrestUnavailable(f"{action}: timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            detail = scrub(str(exc), self._secrets)
            raise PostgrestUnavailable(f"{action}: {type(exc).__name__}: {detail}") from exc
        except httpx.HTTPError as exc:  # the rest of httpx's: an answer it could not decode, a redirect loop
            detail = scrub(str(exc), self._secrets)
            raise PostgrestBadResponse(f"{action}: {type(exc).__name__}: {detail}") from exc
        except httpx.InvalidURL as exc:  # a path or parameter httpx cannot put in a URL
            raise PostgrestConfigError(f"{action}: {scrub(str(exc), self._secrets)}") from exc

    def _error(self, response: httpx.Response, action: str) -> PostgrestError:
        body = scrub(response.text, self._secrets)
        fields = _error_fields(body)
        status = response.status_code
        code = _str_or_none(fields.get("code"))
        message = _str_or_none(fields.get("message")) or response.reason_phrase or "error"
        cls = error_class_for(status, code)
        label = f"HTTP {status}" + (f" {code}" if code else "")
        # `details` stays out of the message: for 23502 it is "Failing row contains (…)", PII.
        return cls(
            f"{action}: {label}: {scrub(message, self._secrets)}",
            status=status, code=code, details=fields.get("details"), hint=_str_or_none(fields.get("hint")),
            retry_after=parse_retry_after(response.headers.get("Retry-After")), body=body,
        )

    def _json(self, response: httpx.Response, action: str) -> Any:
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise PostgrestBadResponse(f"{action}: the response is not JSON", status=response.status_code,
                                       body=scrub(response.text, self._secrets)) from exc


_UPSERT_HEADERS = {"Prefer": PREFER_UPSERT, "Content-Type": "application/json"}


def key_headers(key: str) -> dict[str, str]:
    """The headers that present `key`, the one place they are written."""
    # docs/postgrest.md §1.8: the gateway wants `apikey`; PostgREST reads the role from the JWT.
    return {"apikey": key, "Authorization": f"Bearer {key}"}


def quote_columns(columns: Sequence[str]) -> str:
    """`("id", "name")` → `"id","name"`, the form supabase-js sends (docs/postgrest.md §1.2)."""
    if not columns:
        raise ValueError("columns= needs at least one column (an empty list is PGRST100)")
    for name in columns:
        if not quotable(name):
            raise ValueError(f"unsupported column name {name!r}")
    return ",".join(f'"{name}"' for name in columns)


def quotable(name: str) -> bool:
    """Whether `name` can be written in `columns=`: PostgREST's quoted names have no escape for
    `"`, and we keep `,` out too, as a proxy may split the list on it."""
    return bool(name) and '"' not in name and "," not in name


def columns_param(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str | None:
    """The `columns=` value for an upsert of `rows`, or None to leave it out.

    A name that is not `quotable` cannot be sent in `columns=`. When every row has exactly those
    keys, leaving the parameter out means the same thing: PostgREST then takes the insert columns
    from the body, checking that every row has the same keys (docs/postgrest.md §1.2). Otherwise the
    request cannot be expressed, and it is refused as this request's fault (`PostgrestRejected`,
    so a caller that bisects files the rows with the reason, rather than crashing on them)."""
    quoted = _quoted(tuple(columns))
    if quoted is not None:
        return quoted
    wanted = set(columns)
    if all(row.keys() == wanted for row in rows):
        return None
    odd = sorted(name for name in columns if not quotable(name))
    raise PostgrestRejected(f"column name(s) {odd!r} cannot be sent in columns= (they hold '\"' or ','), "
                            "and the rows' own keys differ from the columns asked for")


@functools.lru_cache(maxsize=64)
def _quoted(columns: tuple[str, ...]) -> str | None:
    """`quote_columns(columns)` when every name is quotable, else None; once per key set (the sink
    sends the same 49 names with every request)."""
    return quote_columns(columns) if all(quotable(name) for name in columns) else None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date), or None."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def _check_url(url: str, *, allow_http: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PostgrestConfigError(f"expected an http(s) URL, got {url!r}")
    if parts.scheme == "http" and not (allow_http or is_loopback(parts.hostname)):
        raise PostgrestConfigError(f"refusing plain HTTP to {parts.hostname}: HTTPS is required except on loopback")


def _error_fields(body: str) -> dict[str, Any]:
    """PostgREST's `{code, message, details, hint}` (docs/postgrest.md §2.1); gateways may send HTML."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
