"""`--follow`: a live progress bar of a job (rich): landed of total, rate, errors, ETA."""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from connectors.postgres import slot as pg
from streamer.config import Settings
from streamer.state import store
from streamer.state.jobs import TERMINAL
from streamer.state.store import Job


def describe(job: Job) -> str:
    """`export 1a2b3c4d running` (`produced 4,000 of 5,000` until every row is produced)."""
    text = f"{job.kind} {job.id[:8]} {job.status}"
    if job.kind != "replay" and job.produced_at is None and job.status == "running":
        text += f" (produced {job.produced_leads:,})"
    return text


def progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}/s"), TextColumn("[red]{task.fields[errors]} errors"),
        TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False)


def _update(bar: Progress, task: TaskID, job: Job) -> None:
    speed = bar.tasks[task].speed or 0.0
    bar.update(task, total=max(job.total_leads, 1), completed=job.exported_leads + job.error_leads,
               description=describe(job), errors=job.error_leads, rate=f"{speed:,.0f}")


async def follow(settings: Settings, job_id: str, console: Console, *, runner: asyncio.Task[object] | None = None,
                 interval: float = 1.0) -> Job:
    """Show the job's progress until it ends (or pauses, or `runner` returns); return it as last read."""
    async with pg.connect(settings.source.dsn.get_secret_value()) as conn:
        job = await store.get_job(conn, job_id)
        with progress_bar(console) as bar:
            task = bar.add_task(describe(job), total=max(job.total_leads, 1), errors=0, rate="0")
            while True:
                job = await store.get_job(conn, job.id)
                _update(bar, task, job)
                if job.status in TERMINAL or job.status == "paused" or (runner is not None and runner.done()):
                    return job
                await asyncio.sleep(interval)
