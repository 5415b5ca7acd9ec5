"""The dev server's test knobs (`/_admin`): forced failures, latency, request log.

Skipped against a real PostgREST.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conformance.conftest import MakeTable, Target

pytestmark = pytest.mark.integration


@pytest.fixture
async def admin(ours: Target) -> AsyncIterator[httpx.AsyncClient]:
    """A client for `/_admin` with the service key; clears the knobs afterwards."""
    headers = {"apikey": ours.service_key}
    async with httpx.AsyncClient(base_url=ours.admin_url, headers=headers, timeout=15) as client:
        yield client
        await client.delete("/_admin/faults")


async def test_forced_503_carries_retry_after(
    http: httpx.AsyncClient, target: Target, admin: httpx.AsyncClient, make_table: MakeTable
) -> None:
    """A forced 503 window answers PGRST000-style 503 with the configured Retry-After."""
    table = await make_table("id bigint primary key")
    knob = await admin.post("/_admin/faults", json={"status": 503, "seconds": 30, "retry_after": 2, "table": table})
    assert knob.status_code == 200
    response = await http.post(table, json=[{"id": 1}], headers=target.headers())
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    await admin.delete("/_admin/faults")
    response = await http.post(table, json=[{"id": 1}], headers=target.headers())
    assert response.status_code == 201


async def test_forced_failure_for_n_requests(
    http: httpx.AsyncClient, target: Target, admin: httpx.AsyncClient, make_table: MakeTable
) -> None:
    """`requests: 2` fails exactly the next two requests (429 gateway body), then recovers."""
    table = await make_table("id bigint primary key")
    await admin.post("/_admin/faults", json={"status": 429, "requests": 2, "table": table})
    statuses = [(await http.post(table, json=[{"id": i}], headers=target.headers())).status_code for i in range(3)]
    assert statuses == [429, 429, 201]


async def test_latency_is_added(
    http: httpx.AsyncClient, target: Target, admin: httpx.AsyncClient, make_table: MakeTable
) -> None:
    """`latency_ms` delays requests by at least that much."""
    table = await make_table("id bigint primary key")
    await admin.post("/_admin/faults", json={"latency_ms": 300, "table": table})
    started = time.monotonic()
    response = await http.get(table, headers=target.headers())
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


async def test_timeout_mode_hangs_until_the_client_gives_up(
    http: httpx.AsyncClient, target: Target, admin: httpx.AsyncClient, make_table: MakeTable
) -> None:
    """`mode: timeout` never answers within the client's timeout."""
    table = await make_table("id bigint primary key")
    await admin.post("/_admin/faults", json={"mode": "timeout", "seconds": 30, "table": table})
    with pytest.raises(httpx.ReadTimeout):
        await http.post(table, json=[{"id": 1}], headers=target.headers(), timeout=0.5)


async def test_request_log_records_row_ids(
    http: httpx.AsyncClient, target: Target, admin: httpx.AsyncClient, make_table: MakeTable
) -> None:
    """The request log lists each POST with its status and the `id`s in its body."""
    table = await make_table("id text primary key")
    await http.post(table, json=[{"id": "lead-1"}, {"id": "lead-2"}], headers=target.headers())
    log = (await admin.get("/_admin/requests")).json()
    posts = [r for r in log["requests"] if r["table"] == table and r["method"] == "POST"]
    assert posts[-1]["ids"] == ["lead-1", "lead-2"]
    assert posts[-1]["status"] == 201
    assert log["counts"][f"POST {table}"] == 1


async def test_admin_needs_the_service_key(ours: Target) -> None:
    """The admin endpoints refuse the anon key."""
    async with httpx.AsyncClient(base_url=ours.admin_url) as client:
        response = await client.post("/_admin/faults", json={"latency_ms": 1}, headers={"apikey": ours.anon_key})
    assert response.status_code == 401
