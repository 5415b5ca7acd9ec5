"""The destination client's HTTP/1.1 transport (connectors/postgrest/transport.py), over real
sockets: small HTTP servers this test starts, each answering in the one way a case needs (kept
alive, closed, chunked, late, silent, over TLS), and the development server for a real upsert."""

from __future__ import annotations

import asyncio
import gzip
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from connectors.postgrest.client import PostgrestClient
from connectors.postgrest.errors import PostgrestUnavailable
from connectors.postgrest.transport import StreamTransport
from devstack.stack import Endpoints
from tests.tls import self_signed

Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]  # True: keep the connection


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    return head + (await reader.readexactly(length) if length else b"")


def answer(body: bytes = b"[]", *, extra: bytes = b"", status: bytes = b"200 OK") -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)


class Server:
    """Counts connections and requests; `answer` decides each reply."""

    def __init__(self, reply: Answer) -> None:
        self.reply, self.connections, self.requests, self.open, self.most_open = reply, 0, [], 0, 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            while True:
                try:
                    self.requests.append(await read_request(reader))
                except asyncio.IncompleteReadError:
                    return
                if not await self.reply(reader, writer):
                    return
        finally:
            self.open -= 1
            writer.close()


@asynccontextmanager
async def serving(reply: Answer, tls: ssl.SSLContext | None = None) -> AsyncIterator[tuple[Server, int]]:
    server = Server(reply)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=tls)
    try:
        yield server, listener.sockets[0].getsockname()[1]
    finally:
        listener.close()
        await listener.wait_closed()


def keep_alive(body: bytes = b"[]") -> Answer:
    async def reply(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(answer(body))
        await writer.drain()
        return True
    return reply


def client_to(port: int, *, scheme: str = "http", connections: int = 4, timeout: float = 5.0,
              context: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"{scheme}://127.0.0.1:{port}", timeout=timeout,
                             transport=StreamTransport(context or ssl.create_default_context(), connections))


async def test_a_kept_alive_connection_carries_the_next_requests() -> None:
    async with serving(keep_alive(b'[{"id":1}]')) as (server, port), client_to(port) as client:
        answers = [await client.post("/leads", content=b'[{"id":1}]', headers={"Content-Type": "application/json"})
                   for _ in range(3)]
    assert [(a.status_code, a.json()) for a in answers] == [(200, [{"id": 1}])] * 3
    assert server.connections == 1
    assert all(r.startswith(b"POST /leads HTTP/1.1\r\n") and r.endswith(b'[{"id":1}]') for r in server.requests)


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async def close_after_answering(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(answer())  # no "Connection: close": the client only sees the socket end
        await writer.drain()
        return False
    async with serving(close_after_answering) as (server, port), client_to(port) as client:
        for _ in range(3):
            assert (await client.get("/leads")).status_code == 200
            await asyncio.sleep(0.05)  # the server's close reaches the client while it is idle
    assert server.connections == 3


async def test_connection_close_is_honoured_and_a_chunked_gzip_body_is_read_whole() -> None:
    payload = gzip.compress(b'{"rows": "' + b"x" * 50_000 + b'"}')
    chunks = [payload[i:i + 7_000] for i in range(0, len(payload), 7_000)]

    async def chunked(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"
                     b"Connection: close\r\n\r\n")
        for chunk in chunks:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True  # the client must not send another request on it
    async with serving(chunked) as (server, port), client_to(port) as client:
        first, second = await client.get("/a"), await client.get("/b")
    assert first.json() == {"rows": "x" * 50_000} and second.status_code == 200
    assert server.connections == 2


async def test_no_more_connections_than_allowed_are_open_at_once() -> None:
    async def slow(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.05)
        writer.write(answer())
        await writer.drain()
        return True
    async with serving(slow) as (server, port), client_to(port, connections=2) as client:
        answers = await asyncio.gather(*(client.get(f"/{i}") for i in range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert server.most_open == 2 and server.connections == 2


@pytest.mark.parametrize(("reply", "error"), [
    (lambda r, w: asyncio.sleep(5, result=True), httpx.ReadTimeout),  # never answers
    (lambda r, w: asyncio.sleep(0, result=False), httpx.RemoteProtocolError),  # hangs up without answering
])
async def test_a_silent_or_vanishing_server_is_httpxs_transport_error(reply: Answer, error: type[Exception]) -> None:
    async with serving(reply) as (_, port), client_to(port, timeout=0.3) as client:
        with pytest.raises(error):
            await client.get("/leads")


async def test_a_refused_connection_is_a_connect_error_and_the_client_says_unavailable() -> None:
    async with serving(keep_alive()) as (_, port):
        pass  # closed: nothing listens on `port` now
    async with client_to(port) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/leads")
    client2 = PostgrestClient(f"http://127.0.0.1:{port}/rest/v1", "service-key-x")
    with pytest.raises(PostgrestUnavailable, match="ConnectError"):
        await client2.upsert("leads", [{"id": 1}])
    await client2.aclose()


def tls_contexts(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a self-signed certificate for 127.0.0.1, and a client context trusting it."""
    cert, key = self_signed(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cafile=str(cert))


async def test_https_uses_the_clients_ssl_context_and_checks_the_certificate(tmp_path: Path) -> None:
    server_tls, trusting = tls_contexts(tmp_path)
    async with serving(keep_alive(b'{"ok":true}'), tls=server_tls) as (server, port):
        async with client_to(port, scheme="https", context=trusting) as client:
            assert (await client.get("/x")).json() == {"ok": True}
            assert (await client.get("/y")).status_code == 200
        assert server.connections == 1
        async with client_to(port, scheme="https", context=ssl.create_default_context()) as client:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.get("/x")


@pytest.mark.integration
async def test_the_client_upserts_through_it_to_the_development_server(services: Endpoints) -> None:
    """The product's client is built on this transport: a real upsert and a read back."""
    client = PostgrestClient(services.postgrest_url, services.service_key)
    try:
        assert isinstance(client._lanes[0]._transport, StreamTransport)
        rows = await client.select("leads", {"select": "id", "limit": "1"})
        assert isinstance(rows, list)
    finally:
        await client.aclose()
