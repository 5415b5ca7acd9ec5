"""Test and benchmark knobs: added latency and forced failures for a window (off by default).

Driven by the admin endpoint (`POST /_admin/faults`), applied by `FaultMiddleware` to API paths
only. The failure bodies mimic what sits in front of a real project (docs/postgrest.md §6, §8 Limits):

| status | body |
|---|---|
| 500 | PostgREST `57014` statement timeout |
| 503 | PostgREST `PGRST000` connection error, with `Retry-After` |
| 504 | PostgREST `PGRST003` pool timeout |
| 429, 544, other | a gateway body `{"message": ...}` (no code) |

`mode="timeout"` hangs each request until the client disconnects (or the window ends → 544).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from devserver.errors import ApiError

FAULT_FIELDS = frozenset({"latency_ms", "status", "seconds", "requests", "retry_after", "mode", "table", "method"})
GATEWAY_MESSAGES = {
    429: "API rate limit exceeded",
    544: "The upstream server is timing out",
}


@dataclass(frozen=True)
class Fault:
    """A forced failure: `status` for `seconds` (None: until cleared) or for `requests` requests."""

    status: int = 503
    mode: str = "status"  # "status" | "timeout"
    until: float | None = None
    remaining: int | None = None
    retry_after: int | None = None
    table: str | None = None
    method: str | None = None


class FaultSpecError(ValueError):
    """The admin request body does not describe a fault."""


class FaultState:
    """The current knobs; `clock` is injectable so tests need no sleeping."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.latency_ms = 0
        self.latency_table: str | None = None
        self.fault: Fault | None = None

    def configure(self, spec: dict[str, Any]) -> None:
        """Apply `{"latency_ms": 50}` and/or `{"status": 503, "seconds": 30, "retry_after": 5}`."""
        unknown = set(spec) - FAULT_FIELDS
        if unknown:
            raise FaultSpecError(f"unknown fields: {', '.join(sorted(unknown))}")
        if "latency_ms" in spec:
            self.latency_ms = _int(spec, "latency_ms")
            self.latency_table = spec.get("table")
        if "status" in spec or "mode" in spec:
            self.fault = self._fault(spec)

    def _fault(self, spec: dict[str, Any]) -> Fault:
        mode = spec.get("mode", "status")
        if mode not in ("status", "timeout"):
            raise FaultSpecError("mode must be 'status' or 'timeout'")
        seconds = spec.get("seconds")
        if seconds is not None and not isinstance(seconds, int | float):
            raise FaultSpecError("seconds must be a number")
        return Fault(
            status=_int(spec, "status") if "status" in spec else 544,
            mode=mode,
            until=self._clock() + seconds if seconds is not None else None,
            remaining=_int(spec, "requests") if "requests" in spec else None,
            retry_after=_int(spec, "retry_after") if "retry_after" in spec else None,
            table=spec.get("table"),
            method=spec.get("method"),
        )

    def clear(self) -> None:
        self.latency_ms = 0
        self.latency_table = None
        self.fault = None

    def latency_for(self, table: str | None) -> float:
        """Seconds to add to a request on `table` (the knob may be scoped to one table)."""
        if self.latency_table is not None and self.latency_table != table:
            return 0.0
        return self.latency_ms / 1000

    def take(self, method: str, table: str | None) -> Fault | None:
        """The fault that applies to this request, counting it against `requests`."""
        fault = self.fault
        if fault is None:
            return None
        if (fault.until is not None and self._clock() >= fault.until) or fault.remaining == 0:
            self.fault = None
            return None
        if (fault.table and fault.table != table) or (fault.method and fault.method != method):
            return None
        if fault.remaining is not None:
            self.fault = replace(fault, remaining=fault.remaining - 1)
        return fault

    def describe(self) -> dict[str, Any]:
        fault = None
        if self.fault is not None:
            fault = asdict(self.fault)
            until = fault.pop("until")
            fault["seconds_left"] = None if until is None else max(0.0, until - self._clock())
        return {"latency_ms": self.latency_ms, "latency_table": self.latency_table, "fault": fault}


def _int(spec: dict[str, Any], name: str) -> int:
    value = spec[name]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise FaultSpecError(f"{name} must be a non-negative integer")
    return value


def fault_error(fault: Fault) -> ApiError:
    """The response a forced failure gives."""
    headers = {"retry-after": str(fault.retry_after)} if fault.retry_after is not None else {}
    if fault.status == 500:
        return ApiError(500, "57014", "canceling statement due to statement timeout", headers=headers)
    if fault.status == 503:
        headers.setdefault("retry-after", "1")
        return ApiError(
            503,
            "PGRST000",
            "Database connection error. Retrying the connection.",
            "injected fault",
            headers=headers,
        )
    if fault.status == 504:
        return ApiError(504, "PGRST003", "Timed out acquiring connection from connection pool.", headers=headers)
    message = GATEWAY_MESSAGES.get(fault.status, "Injected fault")
    return ApiError(fault.status, None, message, headers=headers)


class FaultMiddleware:
    """Adds latency and forced failures to requests whose path `is_api(path)` accepts."""

    def __init__(self, app: ASGIApp, state: FaultState, table_of: Callable[[str], str | None | bool]) -> None:
        self.app = app
        self.state = state
        self.table_of = table_of  # False: not an API path; None: the root; else the table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        table = self.table_of(scope["path"]) if scope["type"] == "http" else False
        if table is False:
            await self.app(scope, receive, send)
            return
        name = table if isinstance(table, str) else None
        delay = self.state.latency_for(name)
        if delay:
            await asyncio.sleep(delay)
        fault = self.state.take(scope["method"], name)
        if fault is None:
            await self.app(scope, receive, send)
            return
        await _drain(receive)  # the request log still sees the body
        if fault.mode == "timeout" and not await _wait_for_disconnect(receive, fault):
            return
        await send_error(send, fault_error(fault))


async def _drain(receive: Receive) -> None:
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False) and message["type"] == "http.request"


async def _wait_for_disconnect(receive: Receive, fault: Fault) -> bool:
    """True if the window ended while the client still waited (then answer 544)."""
    timeout = None if fault.until is None else max(0.0, fault.until - time.monotonic())
    try:
        message: Message = await asyncio.wait_for(receive(), timeout)
    except TimeoutError:
        return True
    return bool(message["type"] != "http.disconnect")


async def send_error(send: Send, error: ApiError) -> None:
    body = error.body()
    headers = {**error.response_headers(), "content-length": str(len(body))}
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        }
    )
    await send({"type": "http.response.body", "body": body})
