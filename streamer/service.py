"""The service process: configured components plus one HTTP endpoint (/metrics, /healthz,
/readyz), run until SIGTERM or SIGINT, then drained and stopped cleanly.

A component is anything with a `name`, an async `run(stopping)` that returns once `stopping` is
set and its in-flight work is finished, and a `ready()` flag.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence
from typing import Protocol

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from streamer.config import Settings
from streamer.logging import get_logger
from streamer.metrics import Metrics

log = get_logger(__name__)


class Component(Protocol):
    name: str

    async def run(self, stopping: asyncio.Event) -> None: ...

    def ready(self) -> bool: ...


ComponentFactory = Callable[[Settings, Metrics], Component]


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
                stopping: asyncio.Event | None = None) -> int:
    """Run until a signal (or `stopping`) asks to stop; return the process exit code."""
    stopping = stopping or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    failed: list[str] = []
    tasks = {asyncio.create_task(c.run(stopping), name=c.name): c for c in components}
    for component in components:
        metrics.component_up(component.name, True)

    server = uvicorn.Server(uvicorn.Config(
        http_app(metrics, components, alive=lambda: not failed), host=settings.http.host,
        port=settings.http.port, log_config=None, access_log=False, lifespan="off"))
    server_task = asyncio.create_task(server.serve(), name="http")
    log.info("service started", components=[c.name for c in components], port=settings.http.port)

    await _wait_for_stop_or_failure(stopping, tasks, failed, metrics)
    log.info("stopping: draining components", grace_seconds=settings.run.shutdown_grace_seconds)
    stopping.set()
    pending: set[asyncio.Task[None]] = set()
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=settings.run.shutdown_grace_seconds)
    for task in pending:
        task.cancel()
    server.should_exit = True
    await server_task
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)
    log.info("service stopped", failed=failed)
    return 1 if failed or pending else 0


async def _wait_for_stop_or_failure(stopping: asyncio.Event, tasks: dict[asyncio.Task[None], Component],
                                    failed: list[str], metrics: Metrics) -> None:
    stop_task = asyncio.create_task(stopping.wait())
    waiting: set[asyncio.Task[object]] = {stop_task, *tasks}
    while not stopping.is_set():
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is stop_task:
                continue
            waiting.discard(task)
            component = tasks[task]  # type: ignore[index]
            metrics.component_up(component.name, False)
            if task.exception() is not None:
                failed.append(component.name)
                log.error("component failed", component=component.name, error=repr(task.exception()))
                stopping.set()
        if not (waiting - {stop_task}):
            break
    stop_task.cancel()
