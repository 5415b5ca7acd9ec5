"""The whole loop on real services: a Gestão Scouter edit comes back through the webhook, is
applied to TabuladorMax, captured, and filtered by the sink — no request reaches the destination
for it — while a later TabuladorMax edit of the same lead flows to Gestão Scouter normally; and an
edit made in Gestão Scouter to a lead the sync wrote is not mistaken for an echo."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from streamer.applier.component import ReverseApplier
from streamer.config import Settings
from streamer.metrics import Metrics
from streamer.sections import ApplierSettings, WebhookSettings
from streamer.webhook.component import WebhookBridge
from streamer.webhook.trigger_sql import tagging_sql
from tests.streamer.sink.pipeline import Pipeline, running
from tests.streamer.sink.test_sink_pipeline import insert
from tests.streamer.webhook.fakes import PATH, SECRET, auth

pytestmark = pytest.mark.integration


def loop_settings(p: Pipeline) -> Settings:
    base = p.settings()
    return base.model_copy(update={
        "kafka": base.kafka.model_copy(update={"reverse_topic_prefix": f"gs{p.name}"}),
        "applier": ApplierSettings(group_id=f"applier{p.name}", poll_timeout_ms=100),
        "webhook": WebhookSettings(jwt_secret=SECRET, publish_timeout_seconds=5),
    })


async def requests_for(p: Pipeline, lead_id: int) -> list[dict[str, object]]:
    log = await p.admin("GET", "requests?last=1000")
    return [e for e in log["requests"] if e.get("table") == p.table and lead_id in (e.get("ids") or [])]


@asynccontextmanager
async def reverse_path(settings: Settings, metrics: Metrics) -> AsyncIterator[httpx.AsyncClient]:
    """The webhook bridge and the reverse applier, running; yields a client of the webhook."""
    stopping = asyncio.Event()
    bridge, applier = WebhookBridge(settings, metrics), ReverseApplier(settings, metrics)
    tasks = [asyncio.create_task(c.run(stopping)) for c in (bridge, applier)]
    try:
        for _ in itertools.count():
            if bridge.ready() and applier.ready():
                break
            await asyncio.sleep(0.1)
        transport = httpx.ASGITransport(app=Starlette(routes=bridge.http_routes()))
        async with httpx.AsyncClient(transport=transport, base_url="http://bridge.test") as client:
            yield client
    finally:
        stopping.set()
        await asyncio.gather(*tasks)


async def source_row_when(p: Pipeline, lead_id: int, column: str, value: object) -> dict[str, object]:
    for _ in range(100):
        row = (await p.rows(p.source))[lead_id]
        if row[column] == value:
            break
        await asyncio.sleep(0.1)
    return row


@pytest.mark.timeout(180)
async def test_a_gestao_scouter_edit_is_applied_without_echo_and_a_later_local_edit_flows(
    pipeline: Pipeline,
) -> None:
    """Webhook → applier → capture → sink filter: the destination gets no request for the echo;
    then an edit in TabuladorMax reaches the destination."""
    settings = loop_settings(pipeline)
    async with running(settings) as pipeline_metrics:
        await insert(pipeline, 1, 3)
        await pipeline.converged(seconds=60)
        await pipeline.admin("DELETE", "requests")
        async with reverse_path(settings, Metrics()) as webhook:
            lead = (await pipeline.rows(pipeline.source))[2]
            edited = lead | {"etapa": "confirmado", "sync_source": "gestao_scouter",
                             "updated_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat()}
            answer = await webhook.post(PATH, headers=auth(), content=orjson.dumps(
                {"lead": edited, "source": "gestao_scouter"}))
            assert answer.status_code == 202, answer.text
            row = await source_row_when(pipeline, 2, "etapa", "confirmado")
        assert (row["etapa"], row["sync_source"]) == ("confirmado", "gestao_scouter")
        for _ in range(100):  # the capture saw it and the sink dropped it as an echo
            if pipeline_metrics.registry.get_sample_value(
                    "streamer_sink_events_skipped_total", {"reason": "echo:gestao_scouter"}):
                break
            await asyncio.sleep(0.1)
        assert pipeline_metrics.registry.get_sample_value(
            "streamer_sink_events_skipped_total", {"reason": "echo:gestao_scouter"}) == 1
        assert await requests_for(pipeline, 2) == []
        assert (await pipeline.rows(pipeline.destination))[2]["etapa"] != "confirmado"

        await pipeline.source.execute(f"UPDATE {pipeline.table} SET etapa = 'compareceu' WHERE id = 2")
        src, dst = await pipeline.converged(seconds=60)
        assert dst[2]["etapa"] == "compareceu" and dst[2]["sync_source"] == "tabuladormax"
        assert src[2]["sync_source"] == "tabuladormax"
        assert len(await requests_for(pipeline, 2)) == 1


@pytest.mark.timeout(180)
async def test_an_edit_in_gestao_scouter_of_a_lead_the_sync_wrote_reaches_tabuladormax(
    pipeline: Pipeline,
) -> None:
    """With `streamer reverse trigger-sql`'s tagging trigger on the destination: the sink's writes
    (through the PostgREST-compatible server, with its X-Sync-Source header) are tagged
    'tabuladormax'; an analyst's plain edit of such a lead is tagged 'gestao_scouter', so the row
    the reverse trigger would post is accepted by the webhook and applied to TabuladorMax."""
    await pipeline.destination.execute(tagging_sql(table=pipeline.table))
    settings = loop_settings(pipeline)
    async with running(settings):
        await insert(pipeline, 1, 3)
        src, dst = await pipeline.converged(seconds=60)
        assert src == dst and {r["sync_source"] for r in dst.values()} == {"tabuladormax"}

        await pipeline.destination.execute(
            f"UPDATE {pipeline.table} SET etapa = 'compareceu', updated_at = now() WHERE id = 2")
        posted = (await pipeline.rows(pipeline.destination))[2]  # what the reverse trigger posts
        assert posted["sync_source"] == "gestao_scouter"
        async with reverse_path(settings, Metrics()) as webhook:
            answer = await webhook.post(PATH, headers=auth(), content=orjson.dumps(
                {"lead": posted, "source": "gestao_scouter", "type": "UPDATE"}))
            assert answer.status_code == 202 and answer.json()["published"] == 1, answer.text
            row = await source_row_when(pipeline, 2, "etapa", "compareceu")
        assert (row["etapa"], row["sync_source"]) == ("compareceu", "gestao_scouter")

        await pipeline.source.execute(f"UPDATE {pipeline.table} SET observacoes = 'ligar de novo' WHERE id = 2")
        src, dst = await pipeline.converged(seconds=60)
    assert src == dst
    assert (dst[2]["etapa"], dst[2]["observacoes"], dst[2]["sync_source"]) == (
        "compareceu", "ligar de novo", "tabuladormax")
