"""The monitor's jobs API shows a failed job's message with lead data masked."""

from __future__ import annotations


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
