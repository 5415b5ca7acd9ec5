"""The service's HTTP endpoint: bound before the components start; its failure stops them cleanly."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Sequence

import pytest

from streamer.config import RunSettings, Settings
from streamer.metrics import Metrics
from streamer.service import MAX_HEAD_BYTES, Component, PortUnavailable, bind_http, largest_header, request_path, serve


class Waiter:
    """A component that runs until asked to stop, then says it drained."""

    name = "waiter"

    def __init__(self) -> None:
        self.started = self.drained = False

    async def run(self, stopping: asyncio.Event) -> None:
        self.started = True
        await stopping.wait()
        self.drained = True

    def ready(self) -> bool:
        return True


def test_a_port_in_use_is_named_with_the_setting_to_change() -> None:
    """Binding a taken port raises PortUnavailable: `port N is in use: set STREAMER_HTTP__PORT`."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortUnavailable, match=f"^port {port} is in use: set STREAMER_HTTP__PORT$"):
            bind_http("127.0.0.1", port)


def test_a_free_port_is_bound_and_listening_is_left_to_the_server() -> None:
    """bind_http returns a bound TCP socket on the asked port."""
    sock = bind_http("127.0.0.1", 0)
    try:
        assert sock.type == socket.SOCK_STREAM and sock.getsockname()[1] > 0
    finally:
        sock.close()


async def test_an_http_server_that_fails_stops_the_components_cleanly() -> None:
    """The server dying after the components started (here: a socket it cannot serve on) drains
    them and returns exit code 1, without an exception escaping `serve`."""
    component = Waiter()
    unusable = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # not a stream socket: create_server refuses it
    settings = Settings(run=RunSettings(shutdown_grace_seconds=5))
    code = await asyncio.wait_for(serve(settings, [component], Metrics(), sock=unusable), timeout=20)
    unusable.close()
    assert code == 1
    assert component.started and component.drained


async def test_stopping_drains_the_components_and_exits_0() -> None:
    """Asked to stop, the service drains its components, stops the server and returns 0."""
    component = Waiter()
    stopping = asyncio.Event()
    task = asyncio.create_task(serve(Settings(), [component], Metrics(), stopping=stopping,
                                     sock=bind_http("127.0.0.1", 0)))
    await asyncio.sleep(0.3)
    stopping.set()
    assert await asyncio.wait_for(task, timeout=20) == 0
    assert component.drained


async def test_answers_are_not_held_back_by_nagle() -> None:
    """Connections accepted on the bound socket have TCP_NODELAY (asyncio sets it only for a
    socket whose proto is TCP); without it each small answer waited ~40 ms for a delayed ACK."""
    sock = bind_http("127.0.0.1", 0)
    accepted: list[int] = []

    def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_connect, sock=sock)
    async with server:
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        for _ in range(100):
            if accepted:
                break
            await asyncio.sleep(0.01)
        writer.close()
    assert accepted and accepted[0] != 0


async def head_answer(head: bytes, components: Sequence[Component] = (), metrics: Metrics | None = None) -> bytes:
    """What the service answers to a request head sent as `head` and no more (an unfinished head
    larger than h11 holds, as a 100 KB header arriving in TCP segments looks when the server reads)."""
    stopping, sock = asyncio.Event(), bind_http("127.0.0.1", 0)
    task = asyncio.create_task(serve(Settings(), components or [Waiter()], metrics or Metrics(), stopping=stopping,
                                     sock=sock))
    try:
        for _ in range(200):  # the server listens on the bound socket once started
            try:
                reader, writer = await asyncio.open_connection(*sock.getsockname()[:2])
                break
            except ConnectionRefusedError:
                await asyncio.sleep(0.05)
        writer.write(head)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=20)  # the server answers, then closes
        writer.close()
        return answer
    finally:
        stopping.set()
        await asyncio.wait_for(task, timeout=20)


SECRETISH = "tok3n-" * 4_000


async def test_a_request_head_too_large_for_the_http_parser_is_a_431_naming_the_header() -> None:
    """Issue 14: a 100 KB Authorization header whose first 24 KB are in when h11 gives up was
    answered by uvicorn with a plain-text 400; it is a 431 whose JSON body names the header and
    gives the limit, like the webhook's own 431, and never holds the value."""
    answer = await head_answer(b"POST /functions/v1/sync-from-gestao-scouter HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Type: application/json\r\nAuthorization: Bearer " + SECRETISH.encode())
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"content-type: application/json" in status.lower()
    assert json.loads(body) == {"error": "request header fields too large", "field": "Authorization",
                                "limit": MAX_HEAD_BYTES}
    assert b"tok3n" not in answer


class WebhookStandIn(Waiter):
    """Stands for the webhook component: what decides whether a refused head is the webhook's is
    that a component of that name runs."""

    name = "webhook"


def rejected(metrics: Metrics) -> tuple[float | None, float | None]:
    r = metrics.registry
    return (r.get_sample_value("streamer_webhook_rejected_total", {"reason": "header_too_large"}),
            r.get_sample_value("streamer_webhook_requests_total", {"status": "431"}))


async def test_a_head_refused_before_the_webhook_saw_it_is_counted_among_the_webhooks_refusals() -> None:
    """A too-large head sent to the webhook's path never reaches the webhook's handler, yet an
    operator watching `streamer_webhook_rejected_total` must see it, as the handler's own 431."""
    metrics = Metrics()
    path = Settings().webhook.path.encode()
    answer = await head_answer(b"POST " + path + b"?x=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                               + SECRETISH.encode(), [WebhookStandIn()], metrics)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert rejected(metrics) == (1.0, 1.0)


@pytest.mark.parametrize(("target", "components"), [
    (b"/metrics", [WebhookStandIn()]),  # another endpoint's request
    (Settings().webhook.path.encode(), [Waiter()]),  # the webhook does not run
])
async def test_a_refused_head_that_was_not_the_webhooks_is_not_counted_as_its(
        target: bytes, components: list[Waiter]) -> None:
    metrics = Metrics()
    answer = await head_answer(b"POST " + target + b" HTTP/1.1\r\nX-Pad: " + SECRETISH.encode(), components, metrics)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert rejected(metrics) == (None, None)


@pytest.mark.parametrize(("head", "path"), [
    (b"POST /a/b?c=d HTTP/1.1\r\nHost: x", "/a/b"),
    (b"GET / HTTP/1.1\r\n", "/"),
    (b"GET /" + b"q" * 500, None),  # the request line itself unfinished
    (b"NOT HTTP AT ALL\r\n", None),
])
def test_the_refused_heads_path_is_read_from_a_whole_request_line_only(head: bytes, path: str | None) -> None:
    assert request_path(head) == path


async def test_other_malformed_requests_keep_the_parsers_400() -> None:
    """Only the size refusal changes: a request line that is not HTTP is still a 400."""
    answer = await head_answer(b"NOT HTTP AT ALL\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]


@pytest.mark.parametrize(("head", "named"), [
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 100, "X-Pad"),
    (b"GET / HTTP/1.1\r\nhost: x\r\nauthorization: Bearer " + b"a" * 100 + b"\r\naccept: */*", "Authorization"),
    (b"GET /" + b"q" * 500 + b" HTTP/1.1\r\nHost: x", "request-line"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"\xff" * 300, "headers"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"a b c " * 60, "headers"),
])
def test_the_largest_header_is_named_and_never_a_value(head: bytes, named: str) -> None:
    """The longest line's name in Title-Case; the request line when it is the longest; `headers`
    when the longest line has no name made of token characters."""
    assert largest_header(head) == named
