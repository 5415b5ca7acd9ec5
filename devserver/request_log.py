"""What the server received: counters by method and table, and a bounded log of recent requests.

Tests use it to assert, for example, that the destination received no request for lead X: each
entry records the `id`s of the rows in a POST body.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class LoggedRequest:
    at: float
    method: str
    path: str
    table: str | None
    status: int
    rows: int | None
    ids: list[Any] = field(default_factory=list)


class RequestLog:
    """A ring buffer of `LoggedRequest` plus unbounded counters keyed `"POST leads"`."""

    def __init__(self, size: int = 1000) -> None:
        self.entries: deque[LoggedRequest] = deque(maxlen=size)
        self.counts: Counter[str] = Counter()

    def record(self, entry: LoggedRequest) -> None:
        self.entries.append(entry)
        self.counts[f"{entry.method} {entry.table or '/'}"] += 1

    def clear(self) -> None:
        self.entries.clear()
        self.counts.clear()

    def snapshot(self, last: int | None = None) -> dict[str, Any]:
        entries = list(self.entries)[-last:] if last else list(self.entries)
        return {"counts": dict(self.counts), "requests": [asdict(e) for e in entries]}


def ids_in_body(body: bytes) -> list[Any]:
    """The `id` of each object in a JSON body (an object or an array); [] if unparsable."""
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return []
    rows = data if isinstance(data, list) else [data]
    return [row["id"] for row in rows if isinstance(row, dict) and "id" in row]


class RequestLogMiddleware:
    """Outermost middleware: records API requests (including faulted ones) after they finish.

    Handlers may leave `rows` and `ids` in `scope["state"]`; otherwise ids come from the body.
    """

    def __init__(self, app: ASGIApp, log: RequestLog, table_of: Callable[[str], str | None | bool]) -> None:
        self.app = app
        self.log = log
        self.table_of = table_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        table = self.table_of(scope["path"]) if scope["type"] == "http" else False
        if table is False:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        status = 500

        async def tapped_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        async def tapped_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        scope.setdefault("state", {})
        try:
            await self.app(scope, tapped_receive, tapped_send)
        finally:
            self._record(scope, table if isinstance(table, str) else None, status, chunks)

    def _record(self, scope: Scope, table: str | None, status: int, chunks: list[bytes]) -> None:
        state = scope["state"]
        ids = state.get("pgrst_ids")
        if ids is None and scope["method"] == "POST":
            ids = ids_in_body(b"".join(chunks))
        self.log.record(
            LoggedRequest(
                at=time.time(),
                method=scope["method"],
                path=scope["path"],
                table=table,
                status=status,
                rows=state.get("pgrst_rows"),
                ids=ids or [],
            )
        )
