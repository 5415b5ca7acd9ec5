#!/usr/bin/env python3
"""What the destination client costs in CPU per 50-lead upsert, and what of it is httpx's transport.

    eval "$(.venv/bin/python -m devstack env)"
    .venv/bin/python scripts/bench_http_client.py [--requests 300] [--in-flight 8] [--rounds 3]

The same 50-lead upserts to the development server, `--in-flight` at a time, three ways, in
interleaved rounds; this process's CPU (time.process_time) per request:

  client        the sink's `PostgrestClient` as it runs (httpx over connectors/postgrest/transport.py)
  httpcore      the same client over httpx's own transport (httpcore and anyio), as before it
  bare streams  the same client over a bare asyncio-stream transport (below): what httpx's own
                layers and ours cost without any HTTP/1.1 protocol keeping
  raw           the request's bytes written on a kept-alive socket and the answer read: the floor

The bare-stream transport exists for this measurement only: plain HTTP, answers with a
Content-Length, no timeouts and no error handling; it is not a client for the product.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from benchkit.procs import load_average
from benchkit.stack import close, endpoints, leads, pair

from connectors.postgrest.client import PostgrestClient
from devstack.scratch import ScratchPair

Rows = list[dict[str, Any]]
Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = [(name, value) for name, _, value in (line.partition(b": ") for line in lines[1:] if line)]
    length = next((int(v) for k, v in headers if k.lower() == b"content-length"), 0)
    return int(lines[0].split(b" ")[1]), headers, await reader.readexactly(length) if length else b""


class BareStreams(httpx.AsyncBaseTransport):
    """httpx requests written on `size` kept-alive asyncio streams (see the module's docstring)."""

    def __init__(self, size: int) -> None:
        self.size, self.idle = size, asyncio.Queue[Streams]()
        self.opened: list[Streams] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.opened:
            for _ in range(self.size):
                self.opened.append(await asyncio.open_connection(request.url.host, request.url.port))
                self.idle.put_nowait(self.opened[-1])
        reader, writer = await self.idle.get()
        head = [request.method.encode(), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
        for name, value in request.headers.raw:
            head += [name, b": ", value, b"\r\n"]
        writer.write(b"".join(head) + b"\r\n" + request.content)
        status, headers, content = await read_answer(reader)
        self.idle.put_nowait((reader, writer))
        return httpx.Response(status, headers=headers, content=content)

    async def aclose(self) -> None:
        for _, writer in self.opened:
            writer.close()


async def with_client(p: ScratchPair, batches: Sequence[Rows], in_flight: int,
                      transport: httpx.AsyncBaseTransport | None) -> float:
    client = PostgrestClient(p.services.postgrest_url, p.services.service_key, allow_http=True,
                             max_connections=in_flight, transport=transport)
    slots = asyncio.Semaphore(in_flight)

    async def one(rows: Rows) -> None:
        async with slots:
            await client.upsert(p.table, rows)
    try:
        await one(batches[0])  # connections open, URL cached
        began = time.process_time()
        await asyncio.gather(*(one(rows) for rows in batches))
        return time.process_time() - began
    finally:
        await client.aclose()


async def raw(p: ScratchPair, batches: Sequence[Rows], in_flight: int) -> float:
    url = urlsplit(p.services.postgrest_url)
    key = p.services.service_key
    head = (f"POST {url.path}/{p.table}?on_conflict=id HTTP/1.1\r\nHost: {url.netloc}\r\napikey: {key}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            "Prefer: resolution=merge-duplicates,return=minimal\r\nContent-Length: ")
    idle = asyncio.Queue[Streams]()
    opened = [await asyncio.open_connection(url.hostname, url.port) for _ in range(in_flight)]
    for streams in opened:
        idle.put_nowait(streams)

    async def one(rows: Rows) -> None:
        reader, writer = await idle.get()
        body = orjson.dumps(rows)
        writer.write(f"{head}{len(body)}\r\n\r\n".encode() + body)
        status, _, content = await read_answer(reader)
        if status >= 300:
            raise RuntimeError(f"HTTP {status}: {content[:300]!r}")
        idle.put_nowait((reader, writer))
    try:
        await one(batches[0])
        began = time.process_time()
        await asyncio.gather(*(one(rows) for rows in batches))
        return time.process_time() - began
    finally:
        for _, writer in opened:
            writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    p = await pair(endpoints(), "http")
    try:
        rows = [lead | {"sync_source": "tabuladormax"} for lead in leads(1, 50 * args.requests)]
        batches = [rows[i:i + 50] for i in range(0, len(rows), 50)]
        ways: dict[str, Callable[[], Awaitable[float]]] = {
            "client (StreamTransport, h11)": lambda: with_client(p, batches, args.in_flight, None),
            "client over httpcore and anyio": lambda: with_client(p, batches, args.in_flight, httpx.AsyncHTTPTransport(
                limits=httpx.Limits(max_connections=args.in_flight, max_keepalive_connections=args.in_flight))),
            "client over bare streams": lambda: with_client(p, batches, args.in_flight, BareStreams(args.in_flight)),
            "raw socket": lambda: raw(p, batches, args.in_flight)}
        spent: dict[str, list[float]] = {name: [] for name in ways}
        loads = []
        for _ in range(args.rounds):
            for name, way in ways.items():
                spent[name].append(await way() * 1000 / len(batches))
                loads.append(load_average()[0])
        print(f"{len(batches)} upserts of 50 leads, {args.in_flight} in flight, {args.rounds} rounds, "
              f"load average {min(loads):.2f}–{max(loads):.2f}; CPU ms per request, median (each round)")
        for name, values in spent.items():
            print(f"  {name:<32} {statistics.median(values):.2f}  ({', '.join(f'{v:.2f}' for v in values)})")
    finally:
        await close(p)


if __name__ == "__main__":
    asyncio.run(main())
