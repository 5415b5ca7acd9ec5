"""`/_admin/*`: test knobs and introspection, outside `/rest/v1` (not a PostgREST feature).

    POST   /_admin/faults    {"status":503,"seconds":30,"retry_after":5} | {"latency_ms":50}
                              | {"mode":"timeout","seconds":10} | {"status":429,"requests":3}
    GET    /_admin/faults    current knobs
    DELETE /_admin/faults    clear all knobs
    GET    /_admin/requests  {"counts": {"POST leads": 3}, "requests": [...]}  (?last=N)
    DELETE /_admin/requests  clear the log
    POST   /_admin/reload    reload the schema cache now (like SIGUSR1)
    GET    /_admin/ready     200 once the schema cache is loaded, else 503 (no key needed)

All but `ready` need the service_role key (`apikey` header or `Authorization: Bearer`).
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devserver.auth import JwtVerifier
from devserver.errors import JSON_UTF8, ApiError
from devserver.faults import FaultSpecError, FaultState
from devserver.request_log import RequestLog
from devserver.responses import error_response
from devserver.schema_cache import SchemaCacheHolder

ADMIN_ROLE = "service_role"


class Admin:
    def __init__(
        self,
        verifier: JwtVerifier,
        faults: FaultState,
        request_log: RequestLog,
        holder: SchemaCacheHolder,
    ) -> None:
        self.verifier = verifier
        self.faults = faults
        self.log = request_log
        self.holder = holder

    def routes(self) -> list[Route]:
        return [
            Route("/_admin/faults", self.faults_endpoint, methods=["GET", "POST", "DELETE"]),
            Route("/_admin/requests", self.requests_endpoint, methods=["GET", "DELETE"]),
            Route("/_admin/reload", self.reload_endpoint, methods=["POST"]),
            Route("/_admin/ready", self.ready_endpoint, methods=["GET"]),
        ]

    def _require_service_key(self, request: Request) -> None:
        key = request.headers.get("apikey") or ""
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            key = auth[7:].strip()
        try:
            role = self.verifier.decode(key).get("role") if key else None
        except ApiError:
            role = None
        if role != ADMIN_ROLE:
            raise ApiError(401, None, "The admin endpoints need the service_role key")

    async def faults_endpoint(self, request: Request) -> Response:
        try:
            self._require_service_key(request)
            if request.method == "POST":
                spec = orjson.loads(await request.body())
                if not isinstance(spec, dict):
                    raise FaultSpecError("the body must be a JSON object")
                self.faults.configure(spec)
            elif request.method == "DELETE":
                self.faults.clear()
        except ApiError as exc:
            return error_response(exc)
        except (FaultSpecError, orjson.JSONDecodeError) as exc:
            return _json({"message": str(exc)}, 400)
        return _json(self.faults.describe())

    async def requests_endpoint(self, request: Request) -> Response:
        try:
            self._require_service_key(request)
        except ApiError as exc:
            return error_response(exc)
        if request.method == "DELETE":
            self.log.clear()
        last = request.query_params.get("last")
        return _json(self.log.snapshot(int(last) if last and last.isdigit() else None))

    async def reload_endpoint(self, request: Request) -> Response:
        try:
            self._require_service_key(request)
        except ApiError as exc:
            return error_response(exc)
        await self.holder.reload()
        return _json({"reloads": self.holder.reloads})

    async def ready_endpoint(self, request: Request) -> Response:
        ready = self.holder.snapshot is not None
        return _json({"schema_cache": ready}, 200 if ready else 503)


def _json(data: object, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type=JSON_UTF8)
