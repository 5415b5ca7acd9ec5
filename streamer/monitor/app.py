"""The sync monitor's HTTP side: the page (/monitor) and its JSON API (/monitor/api/...).

    GET  /monitor                          the page (static HTML + vanilla JS, no build step)
    GET  /monitor/api/jobs                 latest jobs with progress, plus a summary
    GET  /monitor/api/errors               latest lead errors, lead data masked
                                           (?job=<id>&status=<http status>&since=<iso>&until=<iso>&limit=)
    GET  /monitor/api/errors/{id}          one error for its drawer: response body, fields sent, lead (masked)
    GET  /monitor/api/health               capture and sink figures from this process's metrics
    GET  /monitor/api/metrics/history      the last hour of this process's figures, for the charts
    GET  /monitor/api/mapping              the field mapping in use (the seed's JSON)
  with `Authorization: Bearer <admin token>`, each written to the audit log:
    POST /monitor/api/jobs/{id}/{action}   pause | resume | reset | cancel | retry (its failed leads)
    POST /monitor/api/errors/{id}/retry    re-send one failed lead (a retry job)
    POST /monitor/api/errors/purge         {"older_than_days": 90}
    POST /monitor/api/exports              {"start", "end", "date_field", "mapping"?}: a new export job
    PUT  /monitor/api/mapping              the seed's JSON: validated against the destination, installed
    POST /monitor/api/checks/{check}       schema | reload-cache | connection
    POST /monitor/api/verify               {"repair": false, "delete_extra": false}

Reads are open like /metrics (the service listens on loopback unless told otherwise); actions
need the configured admin token or a JWT with the service_role (checked with the webhook's
settings, `webhook.jwt_secret`, when the command layer passes a `JwtCheck`), and are refused
(403) when neither is configured. The actions
that belong to other features (checks, verify, mapping) run through `Operations`, given by the
command layer; without them those routes answer 501.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, cast

import asyncpg
import orjson
from prometheus_client import CollectorRegistry
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from connectors.postgres.errors import PostgresError
from connectors.redaction import mask_urls
from streamer.errors import StreamerError
from streamer.logging import get_logger
from streamer.monitor.actions import Actions, conflict, refusal_body
from streamer.monitor.forms import FormError, moment, status_filter
from streamer.monitor.operations import Operations
from streamer.monitor.samples import Ring, series
from streamer.monitor.store import ACTIONS, parse_job_id
from streamer.state.errors import ConcurrentChange, InvalidTransition, JobNotFound
from streamer.state.jobs import Action
from streamer.texts import Said, said

log = get_logger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
MAX_LIMIT = 500
# The page loads only its own script and style: no inline code, nothing from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Store(Protocol):
    """What the API needs of the job tables (`streamer.monitor.store.JobStore`)."""

    async def jobs(self, limit: int = 50) -> list[dict[str, Any]]: ...

    async def summary(self) -> dict[str, Any]: ...

    async def errors(self, limit: int = 50, job_id: str | None = None, *, status: int | None = None,
                     since: Any = None, until: Any = None) -> list[dict[str, Any]]: ...

    async def error(self, error_id: int) -> dict[str, Any] | None: ...

    async def act(self, job_id: str, action: Action) -> dict[str, Any]: ...

    async def create_export(self, form: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]: ...

    async def retry(self, *, job_id: str | None = None, error_ids: tuple[int, ...] = ()) -> dict[str, Any] | None: ...

    async def purge(self, older_than: Any) -> int: ...

    async def record(self, action: str, parameters: dict[str, Any]) -> None: ...


def json_response(data: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data, default=str), status_code=status_code, media_type="application/json",
                    headers={**SECURITY_HEADERS, **(headers or {})})


def problem(status_code: int, message: str | Said, headers: dict[str, str] | None = None) -> Response:
    """{"error": English} (with "code" and "params" when `message` is a `Said`, for the page)."""
    return json_response(refusal_body(message), status_code, headers)


def sample_sum(registry: CollectorRegistry, sample: str, **labels: str) -> float | None:
    """The sum of every sample called `sample` whose labels include `labels` (None if there is none)."""
    values = [s.value for family in registry.collect() for s in family.samples
              if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())]
    return sum(values) if values else None


def health_figures(registry: CollectorRegistry) -> dict[str, Any]:
    """The capture and sink figures the page shows beside /readyz, read from this process's registry."""
    components = {s.labels["component"]: s.value == 1 for family in registry.collect() for s in family.samples
                  if s.name == "streamer_component_up"}

    def value(name: str, **labels: str) -> float | None:
        return sample_sum(registry, name, **labels)

    last_event = value("streamer_capture_last_event_timestamp_seconds")
    return {
        "components": components,
        "capture": {
            "slot_active": value("streamer_capture_slot_active"),
            "leader": value("streamer_capture_leader"),
            "retained_wal_bytes": value("streamer_capture_slot_retained_wal_bytes"),
            "last_event_timestamp": last_event or None,
            "changes": value("streamer_capture_changes_total"),
            "produce_errors": value("streamer_kafka_produce_errors_total", component="capture"),
        },
        "sink": {
            "landed": value("streamer_sink_leads_landed_total"),
            "failed": value("streamer_sink_leads_failed_total"),
            "dead_lettered": value("streamer_sink_dead_lettered_total"),
            "auth_failures": value("streamer_sink_requests_total", outcome="auth"),
            "consumer_lag": value("streamer_sink_consumer_lag"),
            "partitions_paused": value("streamer_sink_partitions_paused"),
            "batches_in_flight": value("streamer_sink_batches_in_flight"),
        },
    }


# A bearer token → whether it is a valid JWT with an allowed role (given by the command layer).
JwtCheck = Callable[[str], bool]


def bearer_ok(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


class MonitorApi:
    """The handlers, over a store that appears once the component has connected."""

    def __init__(self, store: Callable[[], Store | None], registry: CollectorRegistry,
                 admin_token: str | None, operations: Operations | None = None, ring: Ring | None = None,
                 jwt_check: JwtCheck | None = None) -> None:
        self._store, self.registry, self._token, self._jwt = store, registry, admin_token, jwt_check
        self.operations, self.ring = operations, ring

    def _guard(self, handler: Callable[[Request, Store], Awaitable[Response]]) -> Callable[
            [Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            store = self._store()
            if store is None:
                return problem(503, said("console.not_connected"),
                               {"Retry-After": "5"})
            try:
                return await handler(request, store)
            except JobNotFound:
                return problem(404, said("console.no_such_job"))
            except FormError as exc:
                return problem(422, exc.said or str(exc))
            except (InvalidTransition, ConcurrentChange) as exc:
                return problem(409, conflict(exc))
            except (PostgresError, asyncpg.PostgresError, OSError) as exc:
                log.warning("monitor: source database error", error=str(exc))
                return problem(503, said("console.source_silent"), {"Retry-After": "5"})
        return endpoint

    async def jobs(self, request: Request, store: Store) -> Response:
        return json_response({"jobs": await store.jobs(limit_param(request)), "summary": await store.summary()})

    async def errors(self, request: Request, store: Store) -> Response:
        q = request.query_params
        job = q.get("job")
        return json_response({"errors": await store.errors(
            limit_param(request), parse_job_id(job) if job else None, status=status_filter(q.get("status")),
            since=moment(q.get("since"), "since"), until=moment(q.get("until"), "until"))})

    async def error(self, request: Request, store: Store) -> Response:
        found = await store.error(request.path_params["error_id"])
        return json_response({"error_row": found}) if found else problem(404, said("console.no_such_error"))

    def _admin(self, handler: Callable[[Request, Store], Awaitable[Response]]) -> Callable[
            [Request], Awaitable[Response]]:
        """`handler` behind the admin token or a service_role JWT (403 with neither configured, 401
        without a good one)."""
        async def checked(request: Request, store: Store) -> Response:
            if self._token is None and self._jwt is None:
                return problem(403, said("console.actions_disabled"))
            if not self._authorised(request):
                return problem(401, said("console.token_required"),
                               {"WWW-Authenticate": 'Bearer realm="monitor"'})
            return await handler(request, store)
        return self._guard(checked)

    def _authorised(self, request: Request) -> bool:
        if self._token is not None and bearer_ok(request, self._token):
            return True
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return self._jwt is not None and scheme.lower() == "bearer" and self._jwt(given.strip())

    async def action(self, request: Request, store: Store) -> Response:
        action = request.path_params["action"]
        if action not in (*ACTIONS, "retry"):
            return problem(404, said("console.unknown_action", action=action, actions=", ".join((*ACTIONS, "retry"))))
        job_id = parse_job_id(request.path_params["job_id"])
        if action == "retry":  # the job's failed leads, re-sent as a retry job
            return self._retried(await store.retry(job_id=job_id), job=job_id)
        job = await store.act(job_id, cast(Action, action))
        log.info("monitor: job action", job_id=str(job_id), action=action, status=job["status"])
        return json_response({"job": job})

    async def retry_error(self, request: Request, store: Store) -> Response:
        error_id = int(request.path_params["error_id"])
        return self._retried(await store.retry(error_ids=(error_id,)), error=error_id)

    @staticmethod
    def _retried(created: dict[str, Any] | None, **what: Any) -> Response:
        if created is None:
            return problem(404, said("console.nothing_to_retry"))
        log.info("monitor: retry job created", job_id=created["job"]["id"], rows=created["rows"], **what)
        return json_response(created)

    def _operation(self, name: str) -> Callable[[Request, Store], Awaitable[Response]]:
        async def handler(request: Request, store: Store) -> Response:
            return await Actions(self.operations, json_response).run(store, request, name)
        return handler

    async def check(self, request: Request, store: Store) -> Response:
        name = {"schema": "validate_schema", "reload-cache": "reload_cache",
                "connection": "test_connection"}.get(request.path_params["check"])
        if name is None:
            return problem(404, said("console.unknown_check"))
        return await self._operation(name)(request, store)

    async def mapping(self, _: Request) -> Response:
        if self.operations is None:
            return problem(501, said("console.mapping_not_wired"))
        try:
            return json_response(await self.operations.current_mapping())
        except StreamerError as exc:  # the configured file is missing or not a mapping: say which
            return problem(422, mask_urls(str(exc)))

    async def metrics_history(self, _: Request) -> Response:
        samples = self.ring.samples() if self.ring else []
        return json_response({"every": self.ring.every if self.ring else None, "series": series(samples)})

    async def health(self, _: Request) -> Response:
        return json_response(health_figures(self.registry))

    def routes(self) -> list[BaseRoute]:
        async def page(_: Request) -> Response:
            return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)

        async def redirect(_: Request) -> Response:
            return Response(status_code=308, headers={"Location": "/monitor"})

        return [
            Route("/monitor", page),
            Route("/monitor/", redirect),
            Route("/monitor/api/jobs", self._guard(self.jobs)),
            Route("/monitor/api/errors", self._guard(self.errors)),
            Route("/monitor/api/health", self.health),
            Route("/monitor/api/errors/{error_id:int}", self._guard(self.error)),
            Route("/monitor/api/metrics/history", self.metrics_history),
            Route("/monitor/api/mapping", self.mapping, methods=["GET"]),
            Route("/monitor/api/jobs/{job_id}/{action}", self._admin(self.action), methods=["POST"]),
            Route("/monitor/api/errors/{error_id:int}/retry", self._admin(self.retry_error), methods=["POST"]),
            Route("/monitor/api/errors/purge", self._admin(self._operation("purge")), methods=["POST"]),
            Route("/monitor/api/exports", self._admin(self._operation("export")), methods=["POST"]),
            Route("/monitor/api/mapping", self._admin(self._operation("mapping")), methods=["PUT"]),
            Route("/monitor/api/checks/{check}", self._admin(self.check), methods=["POST"]),
            Route("/monitor/api/verify", self._admin(self._operation("verify")), methods=["POST"]),
            Mount("/monitor/static", StaticFiles(directory=STATIC), name="monitor-static"),
        ]


def limit_param(request: Request, default: int = 50) -> int:
    try:
        return max(1, min(MAX_LIMIT, int(request.query_params.get("limit", default))))
    except ValueError:
        return default
