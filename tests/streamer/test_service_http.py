"""The service's HTTP endpoint: bound before the components start; its failure stops them cleanly."""

from __future__ import annotations

import asyncio
import socket

import pytest

from streamer.config import RunSettings, Settings
from streamer.metrics import Metrics
from streamer.service import PortUnavailable, bind_http, serve


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
