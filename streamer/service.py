"""The service process: configured components plus one HTTP endpoint (/metrics, /healthz,
/readyz), run until SIGTERM or SIGINT, then drained and stopped cleanly.

A component is anything with a `name`, an async `run(stopping)` that returns once `stopping` is
set and its in-flight work is finished, and a `ready()` flag.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import signal
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import h11
import orjson
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from streamer.config import Settings
from streamer.errors import ConfigError
from streamer.logging import get_logger
from streamer.metrics import Metrics

log = get_logger(__name__)
READY_FREEZE_SECONDS = 120  # how long `serve(freeze=True)` waits for every component to be ready


class Component(Protocol):
    name: str

    async def run(self, stopping: asyncio.Event) -> None: ...

    def ready(self) -> bool: ...


ComponentFactory = Callable[[Settings, Metrics], Component]


class PortUnavailable(ConfigError):
    """The HTTP endpoint cannot listen where the settings say (the port is taken, the host is not
    ours): a settings problem, reported as one line with exit code 2."""

    def __init__(self, message: str) -> None:
        super().__init__([message])


def bind_http(host: str, port: int) -> socket.socket:
    """A socket bound to `host:port`, before any component starts: a port in use is a
    configuration problem to report in one line, not a failure found after the components began."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it every answer waits out Nagle + delayed ACK (~40 ms: webhook p50 7 → 55 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no conflict
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortUnavailable(f"port {port} is in use: set STREAMER_HTTP__PORT") from None
        raise PortUnavailable(f"cannot listen on {host}:{port} ({exc.strerror or exc}): "
                              "check STREAMER_HTTP__HOST and STREAMER_HTTP__PORT") from None
    sock.set_inheritable(True)
    return sock


# The request line and headers h11 holds while waiting for their end (its own default, named here
# because the answer gives it). The webhook refuses headers over the same size itself
# (streamer/webhook/app.py MAX_HEADER_BYTES) when a head that large arrives whole.
MAX_HEAD_BYTES = 16 * 1024
_MAX_NAME_SHOWN = 64
_TOKEN_CHARS = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def largest_header(head: bytes) -> str:
    """The name (`Title-Case`) of the longest header line in the start of a request `head`, the
    last one possibly cut off; `request-line` when the request line alone is that long. Never a
    value: only a name made of token characters."""
    request_line, _, rest = head.partition(b"\r\n")
    lines = [line for line in rest.split(b"\r\n") if line]
    if not lines or max(map(len, lines)) < len(request_line):
        return "request-line"
    name = max(lines, key=len).partition(b":")[0].strip()[:_MAX_NAME_SHOWN]
    if not name or not set(name) <= _TOKEN_CHARS:
        return "headers"
    return header_title(name)


def header_title(name: bytes) -> str:
    """A header's name as an answer shows it: `Title-Case`, at most _MAX_NAME_SHOWN characters."""
    return "-".join(part.capitalize() for part in name[:_MAX_NAME_SHOWN].decode("latin-1").split("-"))


class _H11Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering a request head larger than MAX_HEAD_BYTES with 431 and a
    JSON body naming the largest header, as the webhook does, instead of uvicorn's plain-text 400
    "Invalid HTTP request received.". h11 gives up on a head only while it is incomplete, so this
    is what a client whose large head arrives in pieces (any real network) gets; a head that
    arrives whole reaches the application (issue 14: a 100 KB Authorization header).
    `on_head_refused` is told the refused head (`refusal_counter`: the webhook's metrics)."""

    on_head_refused: Callable[[bytes], None] = staticmethod(lambda head: None)

    def send_400_response(self, msg: str) -> None:
        error = sys.exc_info()[1]  # called from uvicorn's `except h11.RemoteProtocolError`
        if not (isinstance(error, h11.RemoteProtocolError) and error.error_status_hint == 431):
            super().send_400_response(msg)
            return
        head = self.conn.trailing_data[0]
        field = largest_header(head)
        self.on_head_refused(head)
        log.warning("http: request refused", status=431, reason="header_too_large", field=field,
                    detail=f"request head over {MAX_HEAD_BYTES} bytes")
        body = orjson.dumps({"error": "request header fields too large", "field": field, "limit": MAX_HEAD_BYTES})
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        for event in (h11.Response(status_code=431, headers=headers, reason=b"Request Header Fields Too Large"),
                      h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()


def request_path(head: bytes) -> str | None:
    """The path of a request head's target (`POST /x?y HTTP/1.1` -> `/x`); None when the request
    line is not whole or not of three parts."""
    line, sep, _ = head.partition(b"\r\n")
    parts = line.split(b" ")
    if not sep or len(parts) != 3:
        return None
    return parts[1].partition(b"?")[0].decode("latin-1")


def refusal_counter(settings: Settings, components: Sequence[Component], metrics: Metrics
                    ) -> Callable[[bytes], None]:
    """What the HTTP server does with a head it refused as too large: when it was a request for
    the webhook (and the webhook runs), count it as the webhook counts its own 431, so
    `streamer_webhook_rejected_total{reason="header_too_large"}` holds both."""
    path = settings.webhook.path if any(c.name == "webhook" for c in components) else None

    def refused(head: bytes) -> None:
        if path is not None and request_path(head) == path:
            metrics.webhook_request(431)
            metrics.webhook_rejected("header_too_large")
    return refused


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal handlers: `serve` owns SIGTERM and SIGINT, drains
    the components, and only then stops the HTTP endpoint (so /readyz answers while draining)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_http(server: uvicorn.Server, sock: socket.socket) -> None:
    try:
        await server.serve(sockets=[sock])
    except SystemExit as exc:  # uvicorn's startup failure; a SystemExit would escape the event loop
        raise RuntimeError(f"the HTTP server exited at start (code {exc.code})") from None


def http_app(metrics: Metrics, components: Sequence[Component], alive: Callable[[], bool],
             extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The service's own endpoints, plus `extra_routes` and the routes of every component that
    offers some through an `http_routes()` method (the webhook bridge does)."""

    async def metrics_endpoint(_: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def healthz(_: Request) -> Response:
        # A component may say it is alive but unhealthy (the sink, when the destination refuses
        # its key): `healthy()` is optional.
        unhealthy = [c.name for c in components if not getattr(c, "healthy", lambda: True)()]
        ok = alive() and not unhealthy
        body = {"status": "ok" if ok else "failing", **({"unhealthy": unhealthy} if unhealthy else {})}
        return JSONResponse(body, status_code=200 if ok else 503)

    async def readyz(_: Request) -> Response:
        states = {c.name: c.ready() for c in components}
        ok = alive() and all(states.values())
        return JSONResponse({"ready": ok, "components": states}, status_code=200 if ok else 503)

    offered = [route for c in components for route in getattr(c, "http_routes", lambda: ())()]
    return Starlette(routes=[Route("/metrics", metrics_endpoint), Route("/healthz", healthz),
                             Route("/readyz", readyz), *extra_routes, *offered])


async def serve(settings: Settings, components: Sequence[Component], metrics: Metrics,
                stopping: asyncio.Event | None = None, sock: socket.socket | None = None,
                freeze: bool = False) -> int:
    """Run until a signal (or `stopping`) asks to stop; return the process exit code.

    The HTTP socket is bound first (or `sock` is used): PortUnavailable before any component starts.
    `freeze` (the process's own service, `streamer run`): the heap is frozen at the start and once
    every component is ready (`freeze_heap`)."""
    sock = sock or bind_http(settings.http.host, settings.http.port)
    stopping = stopping or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    failed: list[str] = []
    server = _Server(uvicorn.Config(
        http_app(metrics, components, alive=lambda: not failed), log_config=None, access_log=False, lifespan="off",
        http=type("H11Protocol", (_H11Protocol,),
                  {"on_head_refused": staticmethod(refusal_counter(settings, components, metrics))}),
        h11_max_incomplete_event_size=MAX_HEAD_BYTES))
    server_task = asyncio.create_task(_serve_http(server, sock), name="http")
    if freeze:
        freeze_heap()
    tasks = {asyncio.create_task(c.run(stopping), name=c.name): c for c in components}
    freezer = asyncio.create_task(_freeze_when_ready(components, stopping) if freeze else asyncio.sleep(0),
                                  name="gc freeze")
    for component in components:
        metrics.component_up(component.name, True)
    log.info("service started", components=[c.name for c in components], port=sock.getsockname()[1])
    if not components:  # the default: only /healthz, /readyz and /metrics, which syncs nothing
        log.warning("no component runs: nothing is captured or landed; set STREAMER_RUN__COMPONENTS, e.g. "
                    '\'["capture","sink"]\' (README, Configuration)')

    await _wait_for_stop_or_failure(stopping, tasks, failed, metrics, server_task)
    log.info("stopping: draining components", grace_seconds=settings.run.shutdown_grace_seconds)
    stopping.set()
    pending: set[asyncio.Task[None]] = set()
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=settings.run.shutdown_grace_seconds)
    for task in pending:
        task.cancel()
    server.should_exit = True
    with contextlib.suppress(Exception):  # already logged when it failed first
        await server_task
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)
    freezer.cancel()
    log.info("service stopped", failed=failed)
    return 1 if failed or pending else 0


def freeze_heap() -> None:
    """Collect, then move every object alive now out of the garbage collector's reach.

    What a process holds for good (modules, settings, clients, the mapping) would otherwise be
    traversed by every full collection: ≈ 70,000 objects after the imports, 50–150 ms with the
    event loop stopped, which the capture and the sink share (docs/latency.md). Frozen objects
    are still freed by reference counting; only cycles among them would stay."""
    gc.collect()
    gc.freeze()


async def _freeze_when_ready(components: Sequence[Component], stopping: asyncio.Event) -> None:
    """Freeze once more when every component is first ready: their connections, pools and
    caches are then built (at most READY_FREEZE_SECONDS after the start)."""
    for _ in range(READY_FREEZE_SECONDS):
        if stopping.is_set():
            return
        if all(c.ready() for c in components):
            freeze_heap()
            return
        await asyncio.sleep(1)


async def _wait_for_stop_or_failure(stopping: asyncio.Event, tasks: dict[asyncio.Task[None], Component],
                                    failed: list[str], metrics: Metrics, server_task: asyncio.Task[None]) -> None:
    """Return when asked to stop, when a component fails, when every component has ended, or
    when the HTTP server stops on its own (then it is counted as failed: `http`)."""
    stop_task = asyncio.create_task(stopping.wait())
    waiting: set[asyncio.Task[object]] = {stop_task, server_task, *tasks}
    while not stopping.is_set():
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is stop_task:
                continue
            waiting.discard(task)
            if task is server_task:
                error = task.exception()
                failed.append("http")
                log.error("http server stopped", error=repr(error) if error else "ended without being asked")
                stopping.set()
                continue
            component = tasks[task]  # type: ignore[index]
            metrics.component_up(component.name, False)
            if task.exception() is not None:
                failed.append(component.name)
                log.error("component failed", component=component.name, error=repr(task.exception()))
                stopping.set()
        if not (waiting - {stop_task, server_task}):
            break
    stop_task.cancel()
