"""The console's actions over ASGI with an in-memory store and operations that record their calls:
each needs the admin token, bad forms are refused with the field named, refusals from the
operations come back as 422 with their reason, and each check writes an audit entry."""

from __future__ import annotations

from typing import Any

import pytest

from streamer.errors import ConfigError
from streamer.history.keyset import DATE_FIELDS
from streamer.metrics import Metrics
from streamer.monitor import forms
from streamer.monitor.operations import Json, Operations
from streamer.monitor.samples import Ring, take
from tests.streamer.monitor.fakes import JOB_ID, FakeStore, bearer, client_for


class Recorded:
    """Operations that answer fixed figures and remember what they were asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def operations(self) -> Operations:
        async def schema() -> Json:
            self.calls.append(("schema", None))
            return {"ok": False, "table": "leads", "findings": [{"severity": "error", "column": "instagram"}],
                    "fix_sql": "ALTER TABLE public.leads ADD COLUMN instagram text;"}

        async def reload() -> Json:
            return {"ok": True, "seconds": 0.4}

        async def connection() -> Json:
            return {"ok": False, "checks": [{"name": "table", "status": "fail", "detail": "", "fix": ""}]}

        async def verify() -> Json:
            return {"missing": 1, "extra": 0, "different": 2}

        async def repair(actor: str, delete_extra: bool) -> Json:
            self.calls.append(("repair", (actor, delete_extra)))
            return {"missing": 1, "extra": 0, "different": 2, "job_id": JOB_ID, "deleted": 0}

        async def current() -> Json:
            return {"mapping": {"fieldMappings": {}, "unmappedColumns": "pass"}, "file": "/tmp/m.json"}

        async def install(data: bytes, actor: str) -> Json:
            self.calls.append(("install", (data, actor)))
            if b"phone" in data:
                raise ConfigError(["the destination table 'leads' has no column(s) phone"])
            return {"fieldMappings": {"celular": "celular"}, "unmappedColumns": "pass"}

        return Operations(schema, reload, connection, verify, repair, current, install)


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/monitor/api/exports"), ("PUT", "/monitor/api/mapping"), ("POST", "/monitor/api/checks/schema"),
    ("POST", "/monitor/api/verify"), ("POST", "/monitor/api/errors/purge"), ("POST", "/monitor/api/errors/1/retry"),
    ("POST", f"/monitor/api/jobs/{JOB_ID}/retry"),
])
async def test_every_action_needs_the_admin_token(method: str, path: str) -> None:
    """Without the Bearer token every action is 401 and nothing runs."""
    store, ops = FakeStore(), Recorded()
    async with client_for(store, operations=ops.operations()) as client:
        response = await client.request(method, path, json={})
    assert response.status_code == 401
    assert store.acted == [] and store.exported == [] and ops.calls == []


async def test_retry_of_a_jobs_errors_is_an_action_now() -> None:
    """POST /jobs/{id}/retry creates a retry job for the job's failed leads (no more "unknown action")."""
    store = FakeStore()
    async with client_for(store) as client:
        response = await client.post(f"/monitor/api/jobs/{JOB_ID}/retry", headers=bearer())
        one = await client.post("/monitor/api/errors/1/retry", headers=bearer())
        none = await client.post("/monitor/api/errors/99/retry", headers=bearer())
    assert response.status_code == 200 and response.json()["job"]["kind"] == "retry"
    assert one.status_code == 200 and none.status_code == 404
    assert store.acted == [(JOB_ID, "retry"), ("(1,)", "retry")]


@pytest.mark.parametrize(("body", "field"), [
    ({"end": "2025-01-31"}, "start"),
    ({"start": "2025-02-01", "end": "2025-01-31"}, "before start"),
    ({"start": "2025-01-01", "end": "2025-01-31", "date_field": "nascimento"}, "date_field"),
    ({"start": "2025-01-01", "end": "31/01/2025"}, "end"),
    ({"start": "2025-01-01", "end": "2025-01-31", "mapping": "celular=phone"}, "mapping"),
])
async def test_a_bad_export_form_is_refused_naming_the_field(body: dict[str, Any], field: str) -> None:
    store = FakeStore()
    async with client_for(store) as client:
        response = await client.post("/monitor/api/exports", json=body, headers=bearer())
    assert response.status_code == 422 and field in response.json()["error"]
    assert store.exported == []


async def test_refusals_carry_their_code_and_parameters_beside_the_english() -> None:
    """The page shows a refusal in the operator's language from its code and parameters; the English
    `error` stays for the CLI and API users, and a reason without a code has none (the page shows it
    as it is)."""
    ops = Recorded()
    async with client_for(FakeStore(), operations=ops.operations()) as client:
        form = await client.post("/monitor/api/exports", json={"end": "2025-01-31"}, headers=bearer())
        anonymous = await client.post("/monitor/api/checks/schema")
        mapping = await client.put("/monitor/api/mapping", content=b'{"fieldMappings": {"celular": "phone"}}',
                                   headers=bearer())
    assert form.json() == {"error": "start: a date such as 2025-01-31 is required", "code": "form.date_required",
                           "params": {"field": "start"}}
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "console.token_required"
    assert mapping.status_code == 422 and "phone" in mapping.json()["error"] and "code" not in mapping.json()


async def test_an_export_with_a_mapping_installs_it_first() -> None:
    """The optional mapping is validated and installed (as the operator's) before the job exists;
    a refused mapping starts no job and says why."""
    store, ops = FakeStore(), Recorded()
    form = {"start": "2025-01-01", "end": "2025-01-31", "date_field": "updated_at"}
    async with client_for(store, operations=ops.operations()) as client:
        bad = await client.post("/monitor/api/exports", headers=bearer(),
                                json={**form, "mapping": {"fieldMappings": {"celular": "phone"}}})
        good = await client.post("/monitor/api/exports", headers=bearer(),
                                 json={**form, "mapping": {"fieldMappings": {"celular": "celular"}}})
    assert bad.status_code == 422 and "phone" in bad.json()["error"]
    assert good.status_code == 200 and good.json()["job"]["status"] == "pending"
    ((created, extra),) = store.exported
    assert created.date_field == "updated_at" and str(created.start) == "2025-01-01"
    assert extra["mapping"]["fieldMappings"] == {"celular": "celular"}


async def test_checks_answer_in_place_and_are_audited() -> None:
    store, ops = FakeStore(), Recorded()
    async with client_for(store, operations=ops.operations()) as client:
        schema = await client.post("/monitor/api/checks/schema", headers=bearer())
        reload = await client.post("/monitor/api/checks/reload-cache", headers=bearer())
        connection = await client.post("/monitor/api/checks/connection", headers=bearer())
        unknown = await client.post("/monitor/api/checks/everything", headers=bearer())
    assert "ADD COLUMN instagram" in schema.json()["fix_sql"]
    assert reload.json()["ok"] is True and connection.json()["ok"] is False
    assert unknown.status_code == 404
    assert [a for a, _ in store.audited] == ["console.validate_schema", "console.reload_cache",
                                             "console.test_connection"]
    assert store.audited[2][1]["failed"] == ["table"]


async def test_verify_and_repair() -> None:
    """Verify answers the counts; repair runs as the monitor and is audited as a verify run."""
    store, ops = FakeStore(), Recorded()
    async with client_for(store, operations=ops.operations()) as client:
        found = await client.post("/monitor/api/verify", headers=bearer())
        repaired = await client.post("/monitor/api/verify", json={"repair": True}, headers=bearer())
    assert found.json()["different"] == 2 and repaired.json()["job_id"] == JOB_ID
    assert ("repair", ("monitor", False)) in ops.calls
    assert store.audited[-1] == ("verify.run", {"repair": True, "missing": 1, "extra": 0, "different": 2,
                                                "job_id": JOB_ID, "deleted": 0})


async def test_operations_not_wired_answer_501() -> None:
    async with client_for(FakeStore()) as client:
        response = await client.post("/monitor/api/checks/schema", headers=bearer())
        mapping = await client.get("/monitor/api/mapping")
    assert response.status_code == 501 and mapping.status_code == 501


@pytest.mark.parametrize(("body", "status"), [({"older_than_days": 90}, 200), ({"older_than_days": 0}, 422),
                                              ({"older_than_days": "90"}, 422), ({}, 422)])
async def test_purge_takes_a_whole_number_of_days(body: dict[str, Any], status: int) -> None:
    store = FakeStore()
    async with client_for(store) as client:
        response = await client.post("/monitor/api/errors/purge", json=body, headers=bearer())
    assert response.status_code == status
    assert (store.acted == [("90 days, 0:00:00", "purge")]) == (status == 200)


async def test_error_filters_reach_the_store_and_bad_ones_are_422() -> None:
    store = FakeStore()
    async with client_for(store) as client:
        ok = await client.get("/monitor/api/errors", params={
            "job": JOB_ID, "status": "409", "since": "2025-01-31T12:00:00-03:00"})
        bad = await client.get("/monitor/api/errors", params={"status": "abc"})
        detail = await client.get("/monitor/api/errors/1")
        missing = await client.get("/monitor/api/errors/2")
    assert ok.status_code == 200 and store.filters["status"] == 409
    assert store.filters["since"].isoformat() == "2025-01-31T12:00:00-03:00"
    assert bad.status_code == 422 and "status" in bad.json()["error"]
    assert detail.json()["error_row"]["lead_id"] == 7 and missing.status_code == 404


async def test_metrics_history_serves_the_ring() -> None:
    metrics, ring = Metrics(), Ring(60, 5)
    ring.add(take(metrics.registry, now=1000.0))
    metrics.sink_batch_landed(50, 0, 0.1, [1_000_000] * 50, 1_000_400)
    metrics.sink_lag(0, 7)
    ring.add(take(metrics.registry, now=1005.0))
    async with client_for(FakeStore(), metrics=metrics, ring=ring) as client:
        body = (await client.get("/monitor/api/metrics/history")).json()
    assert body["every"] == 5 and body["series"]["t"] == [1005.0]
    assert body["series"]["landed_per_s"] == [10.0] and body["series"]["lag"] == [7.0]
    assert 0.25 < body["series"]["visible_p50"][0] <= 0.5


def test_the_export_date_fields_are_historys() -> None:
    """The console offers exactly the date fields an export can filter on."""
    assert forms.DATE_FIELDS == DATE_FIELDS


@pytest.mark.parametrize(("role", "status"), [("service_role", 200), ("anon", 401), ("authenticated", 401)])
async def test_a_service_role_jwt_is_a_credential_too(role: str, status: int) -> None:
    """With `webhook.jwt_secret` set, a JWT signed with it and carrying the service_role is
    accepted like the admin token (checked as the webhook checks its callers); other roles, or a
    token signed with another secret, are 401."""
    import time

    import httpx
    import jwt
    from pydantic import SecretStr

    from streamer.cli.components import build_components
    from streamer.config import RunSettings, Settings
    from streamer.sections import WebhookSettings
    from streamer.service import http_app

    secret = "a-jwt-secret-of-at-least-thirty-two-characters"
    settings = Settings(run=RunSettings(components=("monitor",)), webhook=WebhookSettings(jwt_secret=SecretStr(secret)))
    (component,) = build_components(settings, Metrics())
    component.store = FakeStore()  # type: ignore[attr-defined]
    app = http_app(Metrics(), [component], alive=lambda: True)
    claims = {"role": role, "iss": "supabase", "exp": int(time.time()) + 600}
    good = jwt.encode(claims, secret, algorithm="HS256")
    forged = jwt.encode(claims, "another-secret-of-at-least-thirty-two-chars", algorithm="HS256")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as client:
        answer = await client.post(f"/monitor/api/jobs/{JOB_ID}/pause", headers={"Authorization": f"Bearer {good}"})
        refused = await client.post(f"/monitor/api/jobs/{JOB_ID}/pause", headers={"Authorization": f"Bearer {forged}"})
    assert answer.status_code == status
    assert refused.status_code == 401


async def test_a_broken_mapping_file_is_named_not_a_500(tmp_path: Any) -> None:
    """GET /monitor/api/mapping with a configured file that is not a mapping answers 422 naming it."""
    from pydantic import SecretStr

    from streamer.cli.console import operations
    from streamer.config import Settings
    from streamer.sections import MonitorSettings, SinkSettings

    broken = tmp_path / "mapping.json"
    broken.write_text("{not json")
    settings = Settings(sink=SinkSettings(mapping_file=broken),
                        monitor=MonitorSettings(admin_token=SecretStr("x" * 16)))
    async with client_for(FakeStore(), operations=operations(settings)) as client:
        response = await client.get("/monitor/api/mapping")
    assert response.status_code == 422 and str(broken) in response.json()["error"]
