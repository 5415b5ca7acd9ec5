"""The sink lands both event formats (docs/event-format.md): the legacy one the release before
wrote, and the debezium one with or without JsonConverter's schema envelope; a topic written by
the old release keeps landing after the upgrade."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from connectors.kafka.client import Admin, Producer
from connectors.postgres.columns import table_columns
from schemas.debezium import Encoder, EncoderOptions
from schemas.event import ChangeEvent, SourceInfo, now_ms
from schemas.json_exact import loads as loads_exact
from streamer.config import Settings
from tests.streamer.sink.pipeline import Pipeline, running
from tests.streamer.sink.test_sink_pipeline import insert

pytestmark = pytest.mark.integration


def with_format(settings: Settings, event_format: str, **sink: Any) -> Settings:
    kafka = settings.kafka.model_copy(update={"event_format": event_format})
    return settings.model_copy(update={"kafka": kafka, "sink": settings.sink.model_copy(update=sink)})


async def source_rows(p: Pipeline, ids: range) -> dict[int, dict[str, Any]]:
    rows = await p.source.fetch(f"SELECT id, row_to_json(t)::text AS row FROM {p.table} t WHERE id = ANY($1::bigint[])",
                                list(ids))
    return {r["id"]: loads_exact(r["row"]) for r in rows}


@pytest.mark.timeout(300)
async def test_the_sink_lands_legacy_debezium_and_schema_enveloped_events_alike(pipeline: Pipeline) -> None:
    """Thirty leads, ten per encoding, each created, then updated with an unchanged TOAST column
    (the legacy `unchanged_toast`, Debezium's placeholder), then a few deleted (Debezium's with
    their tombstones): the destination equals the source, the unchanged column kept its value."""
    settings = pipeline.settings()
    await insert(pipeline, 1, 30)
    await pipeline.source.execute(f"UPDATE {pipeline.table} SET observacoes = repeat('x', 9000)")
    columns = await table_columns(pipeline.source, "public", pipeline.table)
    options = EncoderOptions(name=settings.kafka.topic_prefix, columns=columns)
    encoders = {"legacy": Encoder(EncoderOptions(name=options.name, format="legacy")),
                "debezium": Encoder(options), "schemas": Encoder(dataclasses.replace(options, schemas=True))}
    names = list(encoders)

    def encoder_of(lead: int) -> Encoder:
        return encoders[names[(lead - 1) // 10]]

    source = SourceInfo(connector="postgresql", db="tabuladormax", schema="public", table=pipeline.table,
                        ts_ms=now_ms())
    records: list[Any] = []
    created = await source_rows(pipeline, range(1, 31))
    for lead, row in created.items():
        records += encoder_of(lead).records(ChangeEvent(op="c", after=row, source=source))
    await pipeline.source.execute(f"UPDATE {pipeline.table} SET etapa = 'agendado' WHERE id IN (5, 15, 25)")
    for lead, row in (await source_rows(pipeline, range(1, 31))).items():
        if lead in (5, 15, 25):
            after = {k: v for k, v in row.items() if k != "observacoes"}
            records += encoder_of(lead).records(ChangeEvent(op="u", after=after, unchanged_toast=["observacoes"],
                                                            source=source))
    await pipeline.source.execute(f"DELETE FROM {pipeline.table} WHERE id IN (10, 20, 30)")
    for lead in (10, 20, 30):
        records += encoder_of(lead).records(ChangeEvent(op="d", before=created[lead], source=source))
    assert sum(1 for _, value, _ in records if value is None) == 2  # debezium's deletes' tombstones

    async with Admin(settings.kafka) as admin:
        await admin.ensure_topic(settings.kafka.leads_topic)
    async with Producer(settings.kafka) as producer:
        await producer.send_batch(settings.kafka.leads_topic, records)
    async with running(settings, capture=False) as metrics:
        src, dst = await pipeline.converged(seconds=90)
        tombstones = metrics.registry.get_sample_value("streamer_sink_events_skipped_total", {"reason": "tombstone"})
    assert src == dst and sorted(dst) == [i for i in range(1, 31) if i % 10]
    assert all(dst[i]["observacoes"] == "x" * 9000 and dst[i]["etapa"] == "agendado" for i in (5, 15, 25))
    assert tombstones == 2


@pytest.mark.timeout(400)
async def test_a_topic_written_by_the_old_release_still_lands_after_the_upgrade(pipeline: Pipeline) -> None:
    """The old release (legacy format) captures and lands fifty leads; the upgrade writes the
    debezium format on the same topic; then a sink of a fresh group re-lands the whole mixed topic
    into an emptied destination: the old records, then the new ones, equal to the source."""
    old = with_format(pipeline.settings(), "legacy")
    async with running(old):
        await insert(pipeline, 1, 50)
        src, dst = await pipeline.converged(seconds=90)
        assert src == dst and len(dst) == 50
    new = with_format(pipeline.settings(), "debezium")
    async with running(new):
        await pipeline.source.execute(f"UPDATE {pipeline.table} SET etapa = 'contato' WHERE id <= 20")
        await pipeline.source.execute(f"DELETE FROM {pipeline.table} WHERE id > 40")
        src, dst = await pipeline.converged(seconds=90)
        assert src == dst and len(dst) == 40
    await pipeline.destination.execute(f"DELETE FROM {pipeline.table}")
    fresh = with_format(pipeline.settings(), "debezium", group_id=f"fresh{pipeline.name}")
    async with running(fresh, capture=False):
        src, dst = await pipeline.converged(seconds=90)
    assert src == dst and sorted(dst) == list(range(1, 41))
    assert all(dst[i]["etapa"] == "contato" for i in range(1, 21))
