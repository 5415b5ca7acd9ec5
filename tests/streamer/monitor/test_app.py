"""The monitor's page and JSON API driven in-process over ASGI, with an in-memory store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from streamer.metrics import Metrics
from streamer.monitor.app import SECURITY_HEADERS, health_figures, sample_sum
from streamer.monitor.store import error_view
from streamer.state.errors import ConcurrentChange
from streamer.state.failures import ErrorRow
from streamer.state.jobs import Action
from streamer.verify.repair import MESSAGES
from tests.streamer.monitor.fakes import JOB_ID, TOKEN, FakeStore, bearer, client_for


async def test_the_page_and_its_script_are_served_with_a_strict_content_policy() -> None:
    """/monitor is the HTML page (loading only its own script and style), with CSP and nosniff."""
    async with client_for(FakeStore()) as client:
        page = await client.get("/monitor")
        script = await client.get("/monitor/static/monitor.js")
        style = await client.get("/monitor/static/monitor.css")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/monitor/static/monitor.js"' in page.text
    assert page.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert style.status_code == 200
    assert "innerHTML" not in script.text  # data reaches the page through textContent only


async def test_jobs_and_errors_are_read_without_a_token() -> None:
    """GET /monitor/api/jobs and /errors answer like /metrics does: no token needed."""
    async with client_for(FakeStore(), token=None) as client:
        jobs = await client.get("/monitor/api/jobs")
        errors = await client.get("/monitor/api/errors", params={"job": JOB_ID, "limit": "5"})
    assert jobs.status_code == 200
    assert jobs.json()["jobs"][0]["id"] == JOB_ID and jobs.json()["summary"]["success_rate"] == 1.0
    assert errors.json()["errors"][0]["job_id"] == JOB_ID


async def test_an_invalid_job_filter_is_a_404() -> None:
    """?job= must be a whole job id; anything else is answered 404, not a database error."""
    async with client_for(FakeStore()) as client:
        response = await client.get("/monitor/api/errors", params={"job": "6f1c"})
    assert response.status_code == 404


@pytest.mark.parametrize(("token", "headers", "status"), [
    (None, bearer(), 403),
    (TOKEN, {}, 401),
    (TOKEN, bearer("not-the-admin-token-at-all"), 401),
    (TOKEN, {"Authorization": f"Basic {TOKEN}"}, 401),
])
async def test_actions_need_the_configured_admin_token(token: str | None, headers: dict[str, str],
                                                       status: int) -> None:
    """No token configured: actions disabled (403); a missing or wrong Bearer token: 401; nothing changes."""
    store = FakeStore()
    async with client_for(store, token=token) as client:
        response = await client.post(f"/monitor/api/jobs/{JOB_ID}/pause", headers=headers)
    assert response.status_code == status
    assert store.acted == [] and store.job["status"] == "running"
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_pause_with_the_token_moves_the_job_and_returns_it() -> None:
    """POST .../pause with the admin token pauses a running job and answers with the job."""
    store = FakeStore()
    async with client_for(store) as client:
        response = await client.post(f"/monitor/api/jobs/{JOB_ID}/pause", headers=bearer())
    assert response.status_code == 200
    assert response.json()["job"]["status"] == "paused"
    assert store.acted == [(JOB_ID, "pause")]


@pytest.mark.parametrize(("path", "status"), [
    (f"/monitor/api/jobs/{JOB_ID}/explode", 404),
    ("/monitor/api/jobs/not-a-uuid/pause", 404),
    ("/monitor/api/jobs/6f1c1e0e-0000-4000-8000-000000000999/pause", 404),
    (f"/monitor/api/jobs/{JOB_ID}/resume", 409),
])
async def test_unknown_actions_jobs_and_refused_transitions(path: str, status: int) -> None:
    """An unknown action or job is 404; resuming a running job is refused with 409 and a reason."""
    async with client_for(FakeStore()) as client:
        response = await client.post(path, headers=bearer())
    assert response.status_code == status
    assert response.json()["error"]


async def test_a_refused_transition_says_the_action_and_status_as_texts_the_page_translates() -> None:
    """The 409 keeps its English sentence for API users and carries the code, with the action and
    the status as texts of their own, so the console says it in the operator's language."""
    async with client_for(FakeStore()) as client:
        response = await client.post(f"/monitor/api/jobs/{JOB_ID}/resume", headers=bearer())
    body = response.json()
    assert response.status_code == 409
    assert body["error"] == "cannot resume a job that is running"
    assert body["code"] == "console.cannot_act"
    assert body["params"]["action"]["code"] == "job.action.resume"
    assert body["params"]["status"]["code"] == "job.status.running"


class RacedStore(FakeStore):
    """A store where another operator changes the job between the read and the write."""

    async def act(self, job_id: str, action: Action) -> dict[str, Any]:
        raise ConcurrentChange(job_id, action)


async def test_a_job_changed_meanwhile_is_a_409_naming_the_job_and_the_action() -> None:
    async with client_for(RacedStore()) as client:
        response = await client.post(f"/monitor/api/jobs/{JOB_ID}/reset", headers=bearer())
    body = response.json()
    assert response.status_code == 409
    assert body["error"] == f"job {JOB_ID} changed while the reset was being applied: look again"
    assert (body["code"], body["params"]["job"], body["params"]["action"]["code"]) == (
        "console.changed_meanwhile", JOB_ID, "job.action.reset")


async def test_actions_are_post_only() -> None:
    """A GET on an action URL changes nothing (405), so a crawler or a link cannot pause a job."""
    store = FakeStore()
    async with client_for(store) as client:
        response = await client.get(f"/monitor/api/jobs/{JOB_ID}/pause", headers=bearer())
    assert response.status_code == 405 and store.acted == []


async def test_api_answers_503_until_the_database_is_connected() -> None:
    """Before the component has its pool, the API says 503 with Retry-After; the page itself loads."""
    async with client_for(None) as client:
        jobs = await client.get("/monitor/api/jobs")
        page = await client.get("/monitor")
    assert jobs.status_code == 503 and jobs.headers["retry-after"] == "5"
    assert page.status_code == 200


async def test_health_reads_this_processs_metrics() -> None:
    """/monitor/api/health reports components, capture and sink figures from the registry."""
    metrics = Metrics()
    metrics.component_up("capture", True)
    metrics.slot_state(True, 4096)
    metrics.changes_captured("c", 3)
    metrics.changes_captured("u", 2)
    metrics.sink_request("auth")
    metrics.sink_lag(0, 5)
    metrics.sink_lag(1, 7)
    async with client_for(FakeStore(), metrics=metrics) as client:
        health = (await client.get("/monitor/api/health")).json()
    assert health["components"] == {"capture": True}
    assert health["capture"]["slot_active"] == 1 and health["capture"]["retained_wal_bytes"] == 4096
    assert health["capture"]["changes"] == 5
    assert health["sink"]["auth_failures"] == 1 and health["sink"]["consumer_lag"] == 12


def test_sample_sum_is_none_for_a_labelled_family_without_children() -> None:
    """A figure nobody has recorded yet is None (shown as a dash), not 0."""
    metrics = Metrics()
    assert sample_sum(metrics.registry, "streamer_sink_leads_failed_total") is None
    assert health_figures(metrics.registry)["sink"]["failed"] is None


async def test_the_chart_library_is_served_from_here_as_vendored() -> None:
    """uPlot 1.6.30 is served from /monitor/static/vendor/ byte for byte as vendored (the README's
    checksums), and the page loads nothing from elsewhere."""
    import hashlib

    from streamer.monitor.app import STATIC

    notes = (STATIC / "vendor" / "README.md").read_text()
    async with client_for(FakeStore()) as client:
        page = await client.get("/monitor")
        for name in ("uPlot.iife.min.js", "uPlot.min.css"):
            served = await client.get(f"/monitor/static/vendor/{name}")
            assert served.status_code == 200
            assert f"`{name}`: `{hashlib.sha256(served.content).hexdigest()}`" in notes
    assert "1.6.30" in notes and (STATIC / "vendor" / "uPlot.LICENSE").read_text().startswith("The MIT License")
    assert "http://" not in page.text and "https://" not in page.text
    assert '<script src="/monitor/static/vendor/uPlot.iife.min.js"' in page.text


@pytest.mark.parametrize(("message", "code"), [
    ("verify: missing at the destination", "verify.missing_row"),  # a repair's row: the page translates it
    ("verify: different at the destination", "verify.different_row"),
    ("HTTP 400: new row violates check constraint", None),  # the destination's words: shown as stored
])
def test_an_error_row_written_in_the_services_words_carries_its_code(message: str, code: str | None) -> None:
    row = ErrorRow(1, None, 7, message, None, None, None, None, datetime.now(UTC), None)
    assert error_view(row)["error_code"] == code
    assert set(MESSAGES.values()) == {"verify: missing at the destination", "verify: different at the destination"}
