"""An in-memory stand-in for the job tables, and a client for the monitor's app over ASGI."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette

from streamer.metrics import Metrics
from streamer.monitor.app import MonitorApi, Store
from streamer.monitor.operations import Operations
from streamer.monitor.samples import Ring
from streamer.state.errors import InvalidTransition, JobNotFound
from streamer.state.jobs import Action, next_status

TOKEN = "a-long-enough-admin-token"
JOB_ID = "6f1c1e0e-0000-4000-8000-000000000001"


class FakeStore:
    def __init__(self) -> None:
        self.job: dict[str, Any] = {"id": JOB_ID, "status": "running", "total_leads": 100, "exported_leads": 10,
                                    "error_leads": 0}
        self.acted: list[tuple[str, str]] = []
        self.exported: list[tuple[Any, Any]] = []
        self.audited: list[tuple[str, dict[str, Any]]] = []
        self.filters: dict[str, Any] = {}

    async def jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        return [self.job][:limit]

    async def summary(self) -> dict[str, Any]:
        return {"jobs": 1, "exported": 10, "errors": 0, "success_rate": 1.0}

    async def errors(self, limit: int = 50, job_id: str | None = None, *, status: int | None = None,
                     since: Any = None, until: Any = None) -> list[dict[str, Any]]:
        self.filters = {"job_id": job_id, "status": status, "since": since, "until": until}
        return [{"id": 1, "job_id": job_id, "lead_id": 7, "response_status": 400, "error_message": "masked"}]

    async def error(self, error_id: int) -> dict[str, Any] | None:
        return {"id": 1, "lead_id": 7} if error_id == 1 else None

    async def create_export(self, form: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        self.exported.append((form, extra))
        return {**self.job, "id": "6f1c1e0e-0000-4000-8000-000000000002", "status": "pending"}

    async def retry(self, *, job_id: str | None = None, error_ids: tuple[int, ...] = ()) -> dict[str, Any] | None:
        if job_id != JOB_ID and 1 not in error_ids:
            return None
        self.acted.append((job_id or str(error_ids), "retry"))
        return {"job": {**self.job, "id": "6f1c1e0e-0000-4000-8000-000000000003", "kind": "retry"}, "rows": 1}

    async def purge(self, older_than: Any) -> int:
        self.acted.append((str(older_than), "purge"))
        return 3

    async def record(self, action: str, parameters: dict[str, Any]) -> None:
        self.audited.append((action, parameters))

    async def act(self, job_id: str, action: Action) -> dict[str, Any]:
        if job_id != JOB_ID:
            raise JobNotFound(job_id)
        status = next_status(self.job["status"], action)
        if status == self.job["status"] and action != "reset":
            raise InvalidTransition(status, action)
        self.job["status"] = status
        self.acted.append((job_id, action))
        return self.job


def client_for(store: Store | None, token: str | None = TOKEN, metrics: Metrics | None = None,
               operations: Operations | None = None, ring: Ring | None = None) -> httpx.AsyncClient:
    api = MonitorApi(lambda: store, (metrics or Metrics()).registry, token, operations, ring)
    app = Starlette(routes=api.routes())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://monitor.test")


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
