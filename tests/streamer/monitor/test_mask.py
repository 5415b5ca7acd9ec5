"""Lead data masked out of error messages, on literal messages."""

from __future__ import annotations

import pytest

from streamer.monitor.mask import MAX_LENGTH, mask_message


@pytest.mark.parametrize(("message", "masked"), [
    ("Key (celular)=(11999998888) already exists.", "Key (celular)=(***) already exists."),
    ('invalid input syntax for type integer: "Ana Souza"', 'invalid input syntax for type integer: "***"'),
    ("lead ana.souza@example.com rejected", "lead ***@*** rejected"),
    ("telefone +55 (11) 99999-8888 inválido", "telefone *** inválido"),
    ("Key (id, name)=(5, (x)) dup", "Key (id, name)=(***) dup"),
    ("celular 11 9999 8888, cpf 123.456.789-09", "celular ***, cpf ***"),
    ("document 123456789012 refused", "document *** refused"),
])
def test_lead_values_are_masked(message: str, masked: str) -> None:
    """Quoted values, key values, e-mail addresses and phone numbers are replaced by ***."""
    assert mask_message(message) == masked


@pytest.mark.parametrize("message", [
    'column "observacoes" of relation "leads" does not exist',
    "HTTP 400: value too long for type character varying(20)",
    'new row violates row-level security policy for table "leads"',
    "status 409 for 3 leads",
    'HTTP 400 23514: new row for relation "leads" violates check constraint "no_bad_city"',
    "at 2026-11-29 00:30:24 (attempt 3)",
])
def test_what_an_operator_needs_to_fix_a_mapping_stays(message: str) -> None:
    """Column, table, type and constraint names and small numbers are kept as they are."""
    assert mask_message(message) == message


def test_empty_and_long_messages() -> None:
    """None becomes an empty string; a long message is cut to MAX_LENGTH characters."""
    assert mask_message(None) == ""
    cut = mask_message("x" * 2000)
    assert len(cut) == MAX_LENGTH and cut.endswith("…")


def test_a_jobs_error_message_is_masked_in_the_jobs_api() -> None:
    """`/monitor/api/jobs` shows a failed job's message with lead data masked, like error rows."""
    from datetime import UTC, datetime

    from streamer.monitor.store import job_view
    from streamer.state.store import Job

    now = datetime(2024, 5, 2, tzinfo=UTC)
    job = Job(id="6f1c1e0e-0000-4000-8000-000000000001", status="failed", kind="export", start_date=None,
              end_date=None, date_field="criado", total_leads=1, exported_leads=0, error_leads=1, produced_leads=1,
              processing_date=None, last_completed_date=None, cursor=None, options=None,
              error_message='duplicate key: Key (email)=(ana.souza@example.com) already exists; phone 11999998888',
              created_by="ana", created_at=now, updated_at=now, started_at=None, paused_at=None, finished_at=None,
              produced_at=None, generation=0, schedule=None, scheduled_for=None)
    view = job_view(job)
    assert view["error_message"] == "duplicate key: Key (email)=(***) already exists; phone ***"
    assert job_view(Job(**(job.as_dict() | {"error_message": None})))["error_message"] is None
