"""The CLI's tables show data as plain text: markup-like values neither crash nor style the output."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.table import Table

from streamer.check import CheckResult
from streamer.cli import render
from streamer.state.audit import Entry
from streamer.state.failures import ErrorRow
from streamer.state.store import Job

MARKUP = "null value in column [/b] violates [red]not-null[/red] constraint \\"
NOW = datetime(2024, 5, 2, 12, tzinfo=UTC)


def text_of(table: Table) -> str:
    console = Console(record=True, width=400)
    console.print(table)
    return console.export_text()


def job(**changes: object) -> Job:
    values: dict[str, object] = {
        "id": "6f1c1e0e-0000-4000-8000-000000000001", "status": "failed", "kind": "export",
        "start_date": None, "end_date": None, "date_field": "criado", "total_leads": 10, "exported_leads": 5,
        "error_leads": 1, "produced_leads": 6, "processing_date": None, "last_completed_date": None,
        "cursor": None, "options": None, "error_message": MARKUP, "created_by": "[bold]ana[/bold]",
        "created_at": NOW, "updated_at": NOW, "started_at": None, "paused_at": None, "finished_at": None,
        "produced_at": None, "generation": 0, "schedule": None, "scheduled_for": None}
    return Job(**(values | changes))  # type: ignore[arg-type]


def error_row() -> ErrorRow:
    return ErrorRow(id=7, job_id="6f1c1e0e-0000-4000-8000-000000000001", lead_id=42, error_message=MARKUP,
                    response_status=400, response_body='{"message": "[/i]"}', lead_snapshot={"name": "[red]x"},
                    fields_sent=["name"], created_at=NOW, retry_job_id=None)


def test_error_rows_with_markup_in_the_message_render_literally() -> None:
    """`errors list` and `errors show`: `[/b]` does not raise MarkupError and `[red]` is printed as is."""
    listed = text_of(render.errors_table([error_row()]))
    shown = text_of(render.error_table(error_row()))
    assert "[/b]" in listed and "[red]not-null[/red]" in listed
    assert MARKUP in shown and '{"message": "[/i]"}' in shown and "[red]x" in shown


def test_jobs_with_markup_in_their_fields_render_literally() -> None:
    """`jobs list` and `jobs show` (fields, actions, audit trail) print data cells as plain text."""
    stuck = job(status="running", updated_at=NOW - timedelta(hours=2))
    listed = text_of(render.jobs_table([job(), stuck], NOW, timedelta(hours=1)))
    shown = text_of(render.job_table(job(), ["reset"]))
    trail = text_of(render.audit_table([Entry(NOW, "[/x]", "job.reset", None, {"why": "[red]"})]))
    assert "[bold]ana[/bold]" in listed and "running STUCK" in listed
    assert MARKUP in shown and "reset" in shown
    assert "[/x]" in trail and "[red]" in trail


def test_data_cells_carry_no_style_from_markup() -> None:
    """A `[red]` in an error message is text: the cell has no style at all."""
    cell = render.cell("[red]boom[/red]")
    assert cell.plain == "[red]boom[/red]" and not cell.spans and not cell.style
    assert render.cell(None).plain == ""


def test_check_details_with_markup_render_literally() -> None:
    """`streamer check`: a failure's detail (an exception's text) may hold brackets."""
    table = render.check_table([CheckResult("source", False, "ConnectionLost: [/b] at [red]host"),
                                CheckResult("kafka", True, "3 brokers")])
    text = text_of(table)
    assert "[/b] at [red]host" in text and "FAIL" in text and "ok" in text


def test_check_details_never_show_credentials_of_a_url() -> None:
    """The destination's detail quotes its URL: a password or query value in it is masked."""
    text = text_of(render.check_table([CheckResult("destination", True,
                                                   "https://u:pw-9911@h.example/rest/v1?apikey=k-9911 answers")]))
    assert "pw-9911" not in text and "k-9911" not in text and "https://u:***@h.example/rest/v1?apikey=***" in text
