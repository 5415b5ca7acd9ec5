"""The records an export produces, on literal jobs and rows (no Kafka)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import orjson

from schemas.debezium import Encoder, EncoderOptions, decode
from schemas.event import from_row, header
from streamer.history.export import job_record
from streamer.state.store import Job

T0 = datetime(2024, 5, 2, 12, tzinfo=UTC)
JOB = Job(id="6f1c2b8e-8d3a-4a53-9a7e-3c1f0b1e2d4a", status="running", kind="export", start_date=date(2024, 5, 1),
          end_date=date(2024, 5, 2), date_field="criado", total_leads=0, exported_leads=0, error_leads=0,
          produced_leads=0, processing_date=None, last_completed_date=None, cursor=None, options=None,
          error_message=None, created_by="ana", created_at=T0, updated_at=T0, started_at=T0, paused_at=None,
          finished_at=None, produced_at=None, generation=0, schedule=None, scheduled_for=None)


def test_an_export_record_names_the_job_and_its_generation() -> None:
    """Each event of a job carries the job's id and the generation that produced it (bumped by a
    reset), so the sink can drop the outcomes of a run a reset replaced; the event is unchanged."""
    job = dataclasses.replace(JOB, generation=3)
    event = from_row("r", None, {"id": 7, "name": "Ana"}, connector="export", db="crm", table="leads", ts_ms=1,
                     job_id=job.id, snapshot=True)
    key, value, headers = job_record(job, event, Encoder(EncoderOptions(name="tabuladormax")))
    assert value is not None
    assert (key, decode(value).after) == (b'{"id":7}', {"id": 7, "name": "Ana"})
    # Rows read on demand are what Debezium calls an incremental snapshot: no WAL position.
    source = orjson.loads(value)["source"]
    assert (source["snapshot"], source["lsn"], source["txId"]) == ("incremental", None, None)
    assert (header(headers, "job_id"), header(headers, "job_generation")) == (job.id, "3")


def test_in_the_legacy_format_an_export_record_is_the_event_as_the_old_release_wrote_it() -> None:
    job = dataclasses.replace(JOB, generation=3)
    event = from_row("r", None, {"id": 7, "name": "Ana"}, connector="export", db="crm", table="leads", ts_ms=1,
                     job_id=job.id, snapshot=True)
    key, value, headers = job_record(job, event, Encoder(EncoderOptions(name="tabuladormax", format="legacy")))
    assert value is not None
    assert (key, orjson.loads(value)) == (b"7", orjson.loads(event.to_bytes()))
    assert orjson.loads(value)["source"]["snapshot"] is True and "ts_us" not in orjson.loads(value)["source"]
    assert (header(headers, "job_id"), header(headers, "job_generation")) == (job.id, "3")
