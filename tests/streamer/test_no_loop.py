"""The whole loop on real services: a Gestão Scouter edit comes back through the webhook, is
applied to TabuladorMax, captured, and filtered by the sink — no request reaches the destination
for it — while a later TabuladorMax edit of the same lead flows to Gestão Scouter normally."""

from __future__ import annotations

import asyncio
import itertools

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from streamer.applier.component import ReverseApplier
from streamer.config import ApplierSettings, Settings, WebhookSettings
from streamer.metrics import Metrics
from streamer.webhook.component import WebhookBridge
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


@pytest.mark.timeout(180)
async def test_a_gestao_scouter_edit_is_applied_without_echo_and_a_later_local_edit_flows(
    pipeline: Pipeline,
) -> None:
    """Webhook → applier → capture → sink filter: the destination gets no request for the echo;
    then an edit in TabuladorMax reaches the destination."""
    settings = loop_settings(pipeline)
    metrics, stopping = Metrics(), asyncio.Event()
    bridge, applier = WebhookBridge(settings, metrics), ReverseApplier(settings, metrics)
    tasks = [asyncio.create_task(c.run(stopping)) for c in (bridge, applier)]
    try:
        async with running(settings) as pipeline_metrics:
            await insert(pipeline, 1, 3)
            await pipeline.converged(seconds=60)
            await pipeline.admin("DELETE", "requests")
            for _ in itertools.count():
                if bridge.ready() and applier.ready():
                    break
                await asyncio.sleep(0.1)
            lead = (await pipeline.rows(pipeline.source))[2]
            edited = lead | {"etapa": "confirmado", "updated_at": "2030-01-01T00:00:00+00:00",
                             "sync_source": "gestao_scouter"}
            transport = httpx.ASGITransport(app=Starlette(routes=bridge.http_routes()))
            async with httpx.AsyncClient(transport=transport, base_url="http://bridge.test") as client:
                answer = await client.post(PATH, headers=auth(), content=orjson.dumps(
                    {"lead": edited, "source": "gestao_scouter"}))
            assert answer.status_code == 202, answer.text
            for _ in range(100):
                row = (await pipeline.rows(pipeline.source))[2]
                if row["etapa"] == "confirmado":
                    break
                await asyncio.sleep(0.1)
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
    finally:
        stopping.set()
        await asyncio.gather(*tasks)
