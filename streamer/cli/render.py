"""The CLI's tables, built from data as pure functions (tested by rendering them).

Every value that comes from a database, a server or a person is added as a `Text`, never as
Rich markup: an error message holding `[/b]` would otherwise crash the command (MarkupError),
and one holding `[red]` would style the output. Only the fixed labels below carry markup.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from connectors.redaction import mask_urls

if TYPE_CHECKING:
    from streamer.check import CheckResult
    from streamer.state.audit import Entry
    from streamer.state.failures import ErrorRow
    from streamer.state.store import Job

OK = Text("ok", style="green")
FAIL = Text("FAIL", style="red")
STUCK = Text(" STUCK", style="bold red")


def cell(value: object) -> Text:
    """`value` as plain text: None is empty, anything else its `str`, never read as markup."""
    return Text("" if value is None else str(value))


def check_table(results: Iterable[CheckResult]) -> Table:
    """`streamer check`: one row per part, its state and what was seen."""
    table = Table("part", "state", "detail")
    for result in results:
        # A detail may quote the destination URL, with a password or an ?apikey= in it.
        table.add_row(cell(result.name), OK if result.ok else FAIL, cell(mask_urls(result.detail)))
    return table


def fields_table(values: Mapping[str, Any]) -> Table:
    """Two columns, `field` and `value`: `slot status`, `jobs show`, `errors show`."""
    table = Table("field", "value")
    for key, value in values.items():
        table.add_row(cell(key), cell(value))
    return table


def jobs_table(jobs: Iterable[Job], now: datetime, stuck_after: timedelta) -> Table:
    """`jobs list`: progress of each job; a running job without progress for `stuck_after` is STUCK."""
    from streamer.state.jobs import is_stuck

    table = Table("id", "kind", "status", "range", "landed", "errors", "total", "created", "by")
    for job in jobs:
        state = cell(job.status)
        if is_stuck(job.status, job.updated_at, now, stuck_after):
            state.append_text(STUCK)
        span = f"{job.start_date}..{job.end_date} ({job.date_field})" if job.start_date else ""
        table.add_row(cell(job.id[:8]), cell(job.kind), state, cell(span), f"{job.exported_leads:,}",
                      f"{job.error_leads:,}", f"{job.total_leads:,}", f"{job.created_at:%Y-%m-%d %H:%M}",
                      cell(job.created_by))
    return table


def job_table(job: Job, actions: Iterable[str]) -> Table:
    """`jobs show`: every field of the job and the actions it accepts."""
    table = fields_table(job.as_dict())
    table.add_row("actions", cell(", ".join(actions) or "none"))
    return table


def audit_table(entries: Iterable[Entry]) -> Table:
    """`jobs show`: the job's audit trail."""
    table = Table("at", "actor", "action", "parameters")
    for e in entries:
        table.add_row(f"{e.at:%Y-%m-%d %H:%M:%S}", cell(e.actor), cell(e.action), cell(e.parameters))
    return table


def errors_table(rows: Iterable[ErrorRow]) -> Table:
    """`errors list`: the newest failed leads and what the destination answered (cut to 80 characters)."""
    table = Table("id", "job", "lead", "status", "error", "at")
    for row in rows:
        table.add_row(str(row.id), cell((row.job_id or "")[:8]), str(row.lead_id), cell(row.response_status),
                      cell(row.error_message[:80]), f"{row.created_at:%Y-%m-%d %H:%M}")
    return table


def error_table(row: ErrorRow) -> Table:
    """`errors show`: one error row in full."""
    return fields_table({field.name: getattr(row, field.name) for field in dataclasses.fields(row)})
