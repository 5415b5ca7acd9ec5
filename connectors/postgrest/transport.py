"""The destination client's HTTP/1.1 transport: httpx's requests on kept-alive asyncio streams,
the protocol kept by h11.

httpx's own transport (httpcore over anyio) costs about 1 ms of CPU per 50-lead upsert in
connection bookkeeping and cancel scopes, a tenth of `streamer run`'s CPU per lead; this one
costs about 0.1 ms (README, Performance; `scripts/bench_http_client.py`). It does what the
client needs and no more: HTTP and HTTPS (the client's SSL context), a bounded pool per origin,
httpx's four timeouts, and httpx's exception types, so `PostgrestClient` translates failures as
before. Proxies stay with httpx: a client built with a proxy in its environment mounts httpx's
own transport for the proxied URLs. A request body is sent whole (the client's are bytes).

A kept-alive connection the server closed while idle is dropped, not reused. If the server
closes it while a request is being written (the race every HTTP/1.1 client has), the request
fails as a transport error and the caller's retry sends it again, as with httpcore.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field

import h11
import httpx

READ_SIZE = 64 * 1024
Origin = tuple[bytes, bytes, int]  # scheme, host, port


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    protocol: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))

    def usable(self) -> bool:
        """Still open at both ends (a server that closed an idle connection has fed its EOF)."""
        return not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


class StreamTransport(httpx.AsyncBaseTransport):
    """At most `max_connections` requests in flight, each on a connection of its own; finished
    connections the server keeps alive wait for the next request to their origin."""

    def __init__(self, ssl_context: ssl.SSLContext, max_connections: int) -> None:
        self._ssl = ssl_context
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[Origin, list[_Connection]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        origin = _origin(request)
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no connection became free in time", request=request) from None
        try:
            connection = self._reuse(origin) or await self._connect(origin, request, timeouts.get("connect"))
            try:
                response = await _exchange(connection, request, timeouts)
            except BaseException:
                connection.close()
                raise
            if connection.protocol.our_state is h11.DONE and connection.protocol.their_state is h11.DONE:
                connection.protocol.start_next_cycle()
                self._idle.setdefault(origin, []).append(connection)
            else:  # the server ends the connection after this answer (Connection: close, HTTP/1.0)
                connection.close()
            return response
        finally:
            self._slots.release()

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    def _reuse(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if connection.usable():
                return connection
            connection.close()
        return None

    async def _connect(self, origin: Origin, request: httpx.Request, seconds: float | None) -> _Connection:
        scheme, host, port = origin
        secure = scheme == b"https"
        name = host.decode("ascii")
        try:
            async with asyncio.timeout(seconds):
                reader, writer = await asyncio.open_connection(
                    name, port, ssl=self._ssl if secure else None, server_hostname=name if secure else None,
                    limit=READ_SIZE)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {name}:{port} timed out", request=request) from None
        except OSError as exc:  # refused, unreachable, name not resolved, TLS handshake or certificate
            raise httpx.ConnectError(f"connecting to {name}:{port}: {exc}", request=request) from exc
        return _Connection(reader, writer)


def _origin(request: httpx.Request) -> Origin:
    url = request.url
    if url.raw_scheme == b"https":
        return b"https", url.raw_host, url.port or 443
    if url.raw_scheme == b"http":
        return b"http", url.raw_host, url.port or 80
    raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}", request=request)


async def _exchange(connection: _Connection, request: httpx.Request, timeouts: dict[str, float | None]
                    ) -> httpx.Response:
    """Write `request` whole, read its answer whole."""
    protocol = connection.protocol
    body = await request.aread()
    try:
        data = protocol.send(h11.Request(method=request.method, target=request.url.raw_path,
                                         headers=request.headers.raw))
        if body:
            data += protocol.send(h11.Data(data=body))
        data += protocol.send(h11.EndOfMessage())
    except h11.LocalProtocolError as exc:
        raise httpx.LocalProtocolError(str(exc), request=request) from exc
    try:
        connection.writer.write(data)
        async with asyncio.timeout(timeouts.get("write")):
            await connection.writer.drain()
    except TimeoutError:
        raise httpx.WriteTimeout("writing the request timed out", request=request) from None
    except OSError as exc:
        raise httpx.WriteError(f"writing the request: {exc}", request=request) from exc
    status, reason, headers, chunks = 0, b"", list[tuple[bytes, bytes]](), list[bytes]()
    read_timeout = timeouts.get("read")
    while True:
        try:
            event = protocol.next_event()
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        if event is h11.NEED_DATA:
            try:
                async with asyncio.timeout(read_timeout):
                    received = await connection.reader.read(READ_SIZE)
            except TimeoutError:
                raise httpx.ReadTimeout("reading the answer timed out", request=request) from None
            except OSError as exc:
                raise httpx.ReadError(f"reading the answer: {exc}", request=request) from exc
            protocol.receive_data(received)  # b"": the server closed the connection
        elif isinstance(event, h11.Response):
            status, reason, headers = event.status_code, event.reason, list(event.headers)
        elif isinstance(event, h11.Data):
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            break
        elif isinstance(event, h11.ConnectionClosed):
            raise httpx.RemoteProtocolError("the server closed the connection without an answer", request=request)
        # h11.InformationalResponse (a 1xx before the answer): nothing to keep
    return httpx.Response(status, headers=headers, content=b"".join(chunks), request=request,
                          extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason})
