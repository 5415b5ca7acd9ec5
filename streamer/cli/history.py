"""The history commands: `export start`, `jobs ...`, `replay`, `errors ...` (issue 7).

Thin: parse and check the arguments (pure functions below, tested on literals), then call the
store, the runners and the follow display. Every action is audited with `history.operator`.
"""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import typer

from connectors.postgres import slot as pg
from streamer.cli import render
from streamer.cli.common import ConfigOption, err, fail, out, reported, settings_or_exit, setup_logging
from streamer.config import Settings
from streamer.errors import StreamerError
from streamer.history import replay
from streamer.history.follow import follow
from streamer.history.keyset import DATE_FIELDS
from streamer.metrics import Metrics
from streamer.state import audit, failures, store
from streamer.state.jobs import Action, actions_from
from streamer.state.store import Job

export_app = typer.Typer(no_args_is_help=True, help="Export leads of a date range through Kafka, as a job.")
jobs_app = typer.Typer(no_args_is_help=True, help="Export, replay and retry jobs: list, show, pause, resume...")
errors_app = typer.Typer(no_args_is_help=True, help="Leads that failed to land: list, show, retry, purge.")
T = TypeVar("T")
RunHere = Annotated[bool, typer.Option("--run-here", help="Run the job in this process (no service needed).")]
Follow = Annotated[bool, typer.Option("--follow", "-f", help="Show a progress bar until the job ends.")]


# --- pure argument checks ----------------------------------------------------------------------

_JOB_PREFIX = re.compile(r"[0-9a-fA-F-]{4,36}")


def job_ref(text: str, option: str = "job id") -> str:
    """A job id or its first characters (4 or more hex digits and dashes), lower-cased.

    Anything else is refused before any query: a job is matched by prefix, so an empty or
    one-character id would pick whichever job happens to be alone, and `%` or `_` are no
    wildcards here."""
    if not _JOB_PREFIX.fullmatch(text):
        raise ValueError(f"{option}: expected a job id or its first 4+ characters (hex digits and dashes, "
                         f"as `streamer jobs list` shows them), got {text!r}")
    return text.lower()


def parse_date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option}: expected a date such as 2024-01-31, got {text!r}") from None


def parse_time(text: str, tz: str, option: str) -> int:
    """An ISO 8601 date or date-time (naive ones in `tz`) → Unix milliseconds."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option}: expected a time such as 2024-05-02T03:00:00Z, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class ExportRequest:
    start: date
    end: date
    date_field: str

    @classmethod
    def parse(cls, start: str, end: str, date_field: str) -> ExportRequest:
        first, last = parse_date(start, "--from"), parse_date(end, "--to")
        if last < first:
            raise ValueError(f"--to ({last}) is before --from ({first})")
        if date_field not in DATE_FIELDS:
            raise ValueError(f"--date-field must be one of {', '.join(DATE_FIELDS)}, not {date_field!r}")
        return cls(first, last, date_field)


@dataclass(frozen=True)
class ReplayRequest:
    from_ms: int | None
    to_ms: int | None
    from_offsets: dict[int, int] | None

    @classmethod
    def parse(cls, from_time: str | None, to_time: str | None, from_offsets: str | None, tz: str) -> ReplayRequest:
        if (from_time is None) == (from_offsets is None):
            raise ValueError("give exactly one of --from-time and --from-offsets")
        start = parse_time(from_time, tz, "--from-time") if from_time else None
        stop = parse_time(to_time, tz, "--to-time") if to_time else None
        if start is not None and stop is not None and stop < start:
            raise ValueError("--to-time is before --from-time")
        return cls(start, stop, replay.parse_offsets(from_offsets) if from_offsets else None)


# --- plumbing ----------------------------------------------------------------------------------

def on_source(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(conn)` on a connection to the source."""
    async def main() -> T:
        async with pg.connect(settings.source.dsn.get_secret_value()) as conn:
            return await work(conn)
    with reported():
        return asyncio.run(main())
    raise AssertionError("unreachable")  # pragma: no cover - fail() exits


def start_job(settings: Settings, job: Job, *, run_here: bool, follow_it: bool) -> None:
    """After creating a job: run it here, follow it, or say how to."""
    if run_here:
        setup_logging(settings)
        with reported():
            final = asyncio.run(_run_here(settings, job, follow_it))
        out.print(f"job {job.id}: {final.status}, {final.exported_leads:,} landed, {final.error_leads:,} failed "
                  f"of {final.total_leads:,}", highlight=False)
        return
    out.print(f"job {job.id} created; a service running the `exporter` component takes it up "
              f"(or run it here with --run-here)", highlight=False)
    if follow_it:
        with reported():
            asyncio.run(follow(settings, job.id, err))


async def _run_here(settings: Settings, job: Job, follow_it: bool) -> Job:
    from streamer.history.runner import run_job
    from streamer.sink.component import land_burst

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stopping.set)  # stop between pages; the job stays resumable
    runner = asyncio.create_task(run_job(settings, Metrics(), job, stopping, land=land_burst))
    try:
        if follow_it:
            await follow(settings, job.id, err, runner=runner)
        outcome = await runner
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    if outcome == "busy":
        raise StreamerError(f"job {job.id} is being run by another process")
    async with pg.connect(settings.source.dsn.get_secret_value()) as conn:
        return await store.get_job(conn, job.id)


# --- export ------------------------------------------------------------------------------------

@export_app.command("start")
def export_start(
    from_: Annotated[str, typer.Option("--from", help="First day of the range (YYYY-MM-DD).")],
    to: Annotated[str, typer.Option("--to", help="Last day of the range, included.")],
    date_field: Annotated[str, typer.Option(help="criado or updated_at")] = "criado",
    backup: Annotated[bool, typer.Option("--backup", help="First copy the destination's leads.")] = False,
    follow_it: Follow = False, run_here: RunHere = False, config: ConfigOption = None,
) -> None:
    """Create an export job of the source's leads in a date range (days in history.timezone)."""
    settings = settings_or_exit(config)
    with reported():
        request = ExportRequest.parse(from_, to, date_field)
    if backup:
        _backup(settings)
    job = on_source(settings, lambda conn: store.create_job(
        conn, kind="export", actor=settings.history.operator, start_date=request.start, end_date=request.end,
        date_field=request.date_field))
    assert job is not None
    start_job(settings, job, run_here=run_here, follow_it=follow_it)


def _backup(settings: Settings) -> None:
    from streamer.history.backup import backup_destination

    with reported():
        table, rows = asyncio.run(backup_destination(settings, datetime.now(UTC)))
    on_source(settings, lambda conn: audit.record(conn, actor=settings.history.operator, action="export.backup",
                                                  parameters={"table": table, "rows": rows}))
    out.print(f"backup: {rows:,} leads copied to {table} at the destination", highlight=False)


# --- jobs --------------------------------------------------------------------------------------

@jobs_app.command("list")
def jobs_list(
    status: Annotated[list[str] | None, typer.Option(help="Only jobs in this status (repeatable).")] = None,
    kind: Annotated[list[str] | None, typer.Option(help="export, replay or retry (repeatable).")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 30, config: ConfigOption = None,
) -> None:
    """The newest jobs, with progress; running jobs without progress for a while are flagged STUCK."""
    settings = settings_or_exit(config)

    async def work(conn: Any) -> tuple[list[Job], datetime]:
        return await store.list_jobs(conn, limit=limit, statuses=tuple(status or ()),
                                     kinds=tuple(kind or ())), await store.db_now(conn)
    jobs, now = on_source(settings, work)
    out.print(render.jobs_table(jobs, now, timedelta(seconds=settings.history.stuck_after_seconds)))


@jobs_app.command("show")
def jobs_show(job_id: str, config: ConfigOption = None) -> None:
    """Every field of a job, the actions it accepts, and its audit trail."""
    with reported():
        prefix = job_ref(job_id)
    settings = settings_or_exit(config)

    async def work(conn: Any) -> tuple[Job, list[audit.Entry]]:
        job = await store.get_job(conn, prefix)
        return job, await audit.entries(conn, job_id=job.id, limit=20)
    job, entries = on_source(settings, work)
    out.print(render.job_table(job, actions_from(job.status)))
    out.print(render.audit_table(entries))


def _act(action: Action, job_id: str, config: Any) -> None:
    with reported():
        prefix = job_ref(job_id)
    settings = settings_or_exit(config)
    job = on_source(settings, lambda conn: store.act(conn, prefix, action, actor=settings.history.operator))
    out.print(f"job {job.id}: {job.status}", highlight=False)


@jobs_app.command("pause")
def jobs_pause(job_id: str, config: ConfigOption = None) -> None:
    """Stop producing after the current page; `resume` continues from the saved cursor."""
    _act("pause", job_id, config)


@jobs_app.command("resume")
def jobs_resume(job_id: str, config: ConfigOption = None) -> None:
    """Continue a paused (or failed) job from its saved cursor."""
    _act("resume", job_id, config)


@jobs_app.command("reset")
def jobs_reset(job_id: str, config: ConfigOption = None,
               yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False) -> None:
    """Clear the job's counters, cursor and error rows, and run it again from the start."""
    with reported():
        job_ref(job_id)
    if not yes:
        typer.confirm(f"Reset job {job_id}? Its counters and error rows are deleted", abort=True)
    _act("reset", job_id, config)


@jobs_app.command("cancel")
def jobs_cancel(job_id: str, config: ConfigOption = None) -> None:
    """Stop the job for good (events already produced still land)."""
    _act("cancel", job_id, config)


@jobs_app.command("follow")
def jobs_follow(job_id: str, config: ConfigOption = None) -> None:
    """Show a job's progress bar until it ends or pauses."""
    with reported():
        prefix = job_ref(job_id)
    settings = settings_or_exit(config)
    with reported():
        asyncio.run(follow(settings, prefix, err))


# --- replay ------------------------------------------------------------------------------------

def replay_command(
    from_time: Annotated[str | None, typer.Option(help="Re-land events produced at or after this time.")] = None,
    to_time: Annotated[str | None, typer.Option(help="...and at or before this one (default: up to now).")] = None,
    from_offsets: Annotated[str | None, typer.Option(help="Or start at partition:offset[,...].")] = None,
    topic: Annotated[str | None, typer.Option(help="Default: the leads topic.")] = None,
    follow_it: Follow = False, run_here: RunHere = False, config: ConfigOption = None,
) -> None:
    """Re-land events already on the topic through a consumer group of their own, as a job."""
    settings = settings_or_exit(config)
    with reported():
        request = ReplayRequest.parse(from_time, to_time, from_offsets, settings.history.timezone)
    name = topic or settings.kafka.leads_topic
    with reported():
        start, stop = asyncio.run(replay.plan_offsets(
            settings.kafka, name, f"{settings.history.replay_group_prefix}-plan", from_ms=request.from_ms,
            to_ms=request.to_ms, from_offsets=request.from_offsets))
    options = {"topic": name, "start": replay.to_json(start), "stop": replay.to_json(stop),
               "from_time": from_time, "to_time": to_time, "from_offsets": from_offsets}
    job = on_source(settings, lambda conn: store.create_job(
        conn, kind="replay", actor=settings.history.operator, options=options,
        total=replay.total_events(start, stop)))
    assert job is not None
    out.print(f"replay of {replay.total_events(start, stop):,} events on {name}", highlight=False)
    start_job(settings, job, run_here=run_here, follow_it=follow_it)


# --- errors ------------------------------------------------------------------------------------

@errors_app.command("list")
def errors_list(job: Annotated[str | None, typer.Option(help="Only this job's errors.")] = None,
                lead: Annotated[int | None, typer.Option(help="Only this lead's errors.")] = None,
                limit: Annotated[int, typer.Option(min=1)] = 50, config: ConfigOption = None) -> None:
    """The newest failed leads: what the destination answered."""
    with reported():
        prefix = job_ref(job, "--job") if job is not None else None
    settings = settings_or_exit(config)

    async def work(conn: Any) -> list[failures.ErrorRow]:
        job_id = (await store.get_job(conn, prefix)).id if prefix else None
        return await failures.list_errors(conn, job_id=job_id, lead_id=lead, limit=limit)
    out.print(render.errors_table(on_source(settings, work)))


@errors_app.command("show")
def errors_show(error_id: int, config: ConfigOption = None) -> None:
    """One error row in full: response body, the lead as sent, the fields sent."""
    settings = settings_or_exit(config)
    row = on_source(settings, lambda conn: failures.get_error(conn, error_id))
    if row is None:
        fail(f"no error row {error_id}")
    out.print(render.error_table(row))


@errors_app.command("retry")
def errors_retry(job: Annotated[str | None, typer.Option(help="Retry this job's failed leads.")] = None,
                 error_id: Annotated[list[int] | None, typer.Option("--id", help="Retry this error row.")] = None,
                 all_: Annotated[bool, typer.Option("--all", help="Retry every error row.")] = False,
                 follow_it: Follow = False, run_here: RunHere = False, config: ConfigOption = None) -> None:
    """Re-send the failed leads' current source state; their error rows go once they land."""
    if not (job or error_id or all_):
        fail("choose the errors to retry: --job ID, --id N (repeatable) or --all", 2)
    with reported():
        prefix = job_ref(job, "--job") if job is not None else None
    settings = settings_or_exit(config)

    async def work(conn: Any) -> tuple[Job, int] | None:
        job_id = (await store.get_job(conn, prefix)).id if prefix else None
        return await failures.create_retry_or_none(conn, actor=settings.history.operator, job_id=job_id,
                                                   error_ids=tuple(error_id or ()), everything=all_)
    created = on_source(settings, work)
    if created is None:
        out.print("no error row matches: nothing to retry", highlight=False)
        return
    out.print(f"retrying the leads of {created[1]:,} error rows", highlight=False)
    start_job(settings, created[0], run_here=run_here, follow_it=follow_it)


@errors_app.command("purge")
def errors_purge(older_than: Annotated[str, typer.Option(help="e.g. 90d (the seed's cleanup), 12h, 2w")] = "90d",
                 yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
                 config: ConfigOption = None) -> None:
    """Delete error rows older than the given age."""
    settings = settings_or_exit(config)
    with reported():
        age = failures.parse_duration(older_than)
    if not yes:
        typer.confirm(f"Delete error rows older than {older_than}?", abort=True)
    deleted = on_source(settings, lambda conn: failures.purge(conn, age, actor=settings.history.operator))
    out.print(f"{deleted:,} error rows deleted", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the history commands to the `streamer` command."""
    app.add_typer(export_app, name="export")
    app.add_typer(jobs_app, name="jobs")
    app.add_typer(errors_app, name="errors")
    app.command("replay")(replay_command)
