"""The sink with the capture, on real PostgreSQL, Kafka and the PostgREST-compatible server."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.kafka.client import Consumer
from devstack.demo.generator import INSERT, leads
from schemas.debezium import decode_key
from tests.streamer.sink.pipeline import Pipeline, running

pytestmark = pytest.mark.integration


async def insert(p: Pipeline, first: int, count: int, *, seed: int = 1, chunk: int = 500) -> None:
    rows = leads(first, count, seed=seed)
    for i in range(0, count, chunk):
        await p.source.execute(INSERT.format(table=p.table), orjson.dumps(rows[i:i + chunk]).decode())


async def churn(p: Pipeline, ids: range, *, seed: int = 2) -> set[int]:
    """Update about half the leads (some twice) and delete about a tenth; return the deleted ids."""
    rng = random.Random(seed)
    picked = [i for i in ids if rng.random() < 0.5]
    for start in range(0, len(picked), 200):
        part = picked[start:start + 200]
        await p.source.execute(f"UPDATE {p.table} SET etapa = 'contato', tentativas_contato = tentativas_contato + 1 "
                               "WHERE id = ANY($1::bigint[])", part)
        await p.source.execute(f"UPDATE {p.table} SET etapa = 'agendado' WHERE id = ANY($1::bigint[])", part[::3])
    deleted = {i for i in ids if rng.random() < 0.1}
    await p.source.execute(f"DELETE FROM {p.table} WHERE id = ANY($1::bigint[])", list(deleted))
    return deleted


@pytest.mark.timeout(600)
async def test_twenty_thousand_leads_converge_on_every_column(pipeline: Pipeline) -> None:
    """20,000 leads inserted, updated and deleted at the source end up equal at the destination."""
    async with running(pipeline.settings()) as metrics:
        await insert(pipeline, 1, 20_000)
        deleted = await churn(pipeline, range(1, 20_001))
        src, dst = await pipeline.converged(seconds=240)
    assert len(src) == 20_000 - len(deleted)
    assert src == dst
    landed = metrics.registry.get_sample_value("streamer_sink_leads_landed_total")
    assert landed is not None and landed >= len(src)


async def test_rows_written_by_the_reverse_path_never_reach_the_destination(pipeline: Pipeline) -> None:
    """Leads tagged 'gestao_scouter' are filtered: not upserted, and no request carries them."""
    await pipeline.admin("DELETE", "requests")
    async with running(pipeline.settings()):
        async with pipeline.source.transaction():
            await pipeline.source.execute("SELECT set_config('streamer.sync_source', 'gestao_scouter', true)")
            await insert(pipeline, 1, 100)
        await insert(pipeline, 101, 100)
        _, dst = await pipeline.converged(seconds=60, ignore=set(range(1, 101)))
        log = await pipeline.admin("GET", "requests?last=1000")
    assert set(dst) == set(range(101, 201))
    sent = {i for entry in log["requests"] for i in (entry.get("ids") or []) if entry.get("table") == pipeline.table}
    assert sent and not sent & set(range(1, 101))
    assert {row["sync_source"] for row in dst.values()} == {"tabuladormax"}


async def test_leads_violating_a_destination_constraint_are_isolated(pipeline: Pipeline) -> None:
    """1% of leads break a CHECK at the destination: exactly those go to the error table and the
    dead-letter topic, every other lead lands."""
    await pipeline.destination.execute(
        f"ALTER TABLE {pipeline.table} ADD CONSTRAINT no_bad_city CHECK (cidade <> 'INVALIDA')")
    bad = set(random.Random(9).sample(range(1, 2001), 20))
    settings = pipeline.settings()
    async with running(settings):
        await insert(pipeline, 1, 2000)
        await pipeline.source.execute(f"UPDATE {pipeline.table} SET cidade = 'INVALIDA' WHERE id = ANY($1::bigint[])",
                                      list(bad))
        src, dst = await pipeline.converged(seconds=120, ignore=bad)
        for _ in range(600):  # the last error rows may be written just after the rest converged
            rows = await pipeline.source.fetch(
                "SELECT lead_id, response_status, error_message, lead_snapshot FROM gestao_scouter_export_errors "
                "WHERE lead_snapshot->>'id' IS NOT NULL AND created_at > now() - interval '10 minutes' "
                "AND lead_id = ANY($1::bigint[]) AND lead_snapshot->>'cidade' = 'INVALIDA'", list(range(1, 2001)))
            if {r["lead_id"] for r in rows} >= bad:
                break
            await asyncio.sleep(0.1)
    assert src == dst and len(dst) == 1980
    assert {r["lead_id"] for r in rows} == bad
    assert {r["response_status"] for r in rows} == {400}
    assert all("23514" in r["error_message"] for r in rows)
    dead: set[int] = set()
    async with Consumer(settings.kafka, f"{settings.kafka.leads_topic}.dlq", group_id=f"dlq{pipeline.name}") as c:
        for _ in range(20):
            for records in (await c.getmany(timeout_ms=500)).values():
                dead |= {decode_key(r.key) for r in records if dict(r.headers).get("error_code") == b"23514"}
            if dead >= bad:
                break
    assert dead == bad


@pytest.mark.timeout(600)
async def test_a_destination_outage_and_rate_limiting_lose_nothing(pipeline: Pipeline) -> None:
    """The destination answers 503 for 30 s mid-stream, then 429 with Retry-After: it converges."""
    async with running(pipeline.settings()) as metrics:
        await insert(pipeline, 1, 1000)
        await pipeline.converged(seconds=60)
        await pipeline.admin("POST", "faults", status=503, seconds=30, retry_after=2, table=pipeline.table)
        await insert(pipeline, 1001, 2000, seed=3)
        await asyncio.sleep(5)
        assert len(await pipeline.rows(pipeline.destination)) == 1000  # nothing lands during the outage
        await asyncio.sleep(26)
        await pipeline.admin("POST", "faults", status=429, seconds=10, retry_after=1, table=pipeline.table)
        await churn(pipeline, range(1, 3001))
        src, dst = await pipeline.converged(seconds=180)
    assert src == dst
    retries = {s.labels["reason"]: s.value for m in metrics.registry.collect() for s in m.samples
               if s.name == "streamer_sink_retries_total"}
    assert retries.get("503", 0) >= 1 and retries.get("429", 0) >= 1


@pytest.mark.timeout(600)
async def test_the_sink_killed_mid_stream_converges_after_restart(pipeline: Pipeline, tmp_path: Path) -> None:
    """SIGKILL of the sink process mid-stream, then a restart: the destination still converges."""
    settings = pipeline.settings()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_")} | {
        "STREAMER_SOURCE__DSN": pipeline.services.source_dsn, "STREAMER_SOURCE__TABLE": pipeline.table,
        "STREAMER_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "STREAMER_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "STREAMER_DESTINATION__URL": settings.destination.url,
        "STREAMER_DESTINATION__SERVICE_KEY": pipeline.services.service_key,
        "STREAMER_DESTINATION__TABLE": pipeline.table, "STREAMER_SINK__GROUP_ID": settings.sink.group_id,
        "STREAMER_RUN__COMPONENTS": '["sink"]', "STREAMER_HTTP__PORT": "0", "STREAMER_LOG__FORMAT": "json",
    }
    with (tmp_path / "sink.log").open("ab") as log:
        await _kill_and_restart(pipeline, env, log, tmp_path)


def start_sink(env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "streamer", "run"], env=env, stdout=log, stderr=log)


async def _kill_and_restart(pipeline: Pipeline, env: dict[str, str], log: Any, tmp_path: Path) -> None:
    settings = pipeline.settings()
    async with running(settings, sink=False):
        proc = start_sink(env, log)
        await insert(pipeline, 1, 6000)
        await asyncio.sleep(3)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        partial = len(await pipeline.rows(pipeline.destination))
        await churn(pipeline, range(1, 6001))
        proc = start_sink(env, log)
        try:
            src, dst = await pipeline.converged(seconds=180)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    print(f"\nlanded before the kill: {partial} of 6000")
    assert src == dst, (tmp_path / "sink.log").read_text()[-2000:]
