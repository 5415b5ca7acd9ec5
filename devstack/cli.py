"""The local stack's and the demo's commands (`python -m devstack ...`), with the options, output
and exit codes they had when they were subcommands of the product's CLI.

The product's settings (`--config`, `STREAMER_*`) are read as by `streamer`; the stack's own
(`STREAMER_DEV__*`) by `devstack.settings.DevStackSettings`.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from devstack.settings import ENV_PREFIX, DevStackSettings
from devstack.stack import Stack
from streamer.cli.common import ConfigOption, err, fail, out, settings_or_exit, setup_logging
from streamer.config import Settings
from streamer.errors import StreamerError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="The local stack of real services (no Docker) and the main job's demo.")


def stack_settings() -> DevStackSettings:
    """The stack's settings from `STREAMER_DEV__*`, or one `config:` line per problem and exit 2."""
    try:
        return DevStackSettings()
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            name = ENV_PREFIX + "__".join(str(p) for p in error["loc"]).upper()
            typer.echo(f"config: {name}: {error['msg']}", err=True)
        raise typer.Exit(2) from None


def _stack(settings: Settings) -> Stack:
    return Stack(stack_settings(), streamer_port=settings.http.port)


@app.command("up")
def up(config: ConfigOption = None,
       prometheus: Annotated[bool, typer.Option(help="Also start Prometheus.")] = True,
       brokers: Annotated[int | None, typer.Option(
           min=1, max=9, help="Kafka nodes (combined broker+controller); default STREAMER_DEV__BROKERS, 1. "
                              "Fixed once the stack's Kafka is formatted.")] = None) -> None:
    """Start (or keep) every service of the local stack and wait until each answers."""
    settings = settings_or_exit(config)
    try:
        timings = _stack(settings).up(lambda msg: err.print(msg, highlight=False), prometheus=prometheus,
                                      brokers=brokers)
    except StreamerError as exc:
        fail(str(exc))
    err.print("stack up: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()), highlight=False)


@app.command("down")
def down(config: ConfigOption = None) -> None:
    """Stop every service of the local stack (data is kept)."""
    _stack(settings_or_exit(config)).down(lambda msg: err.print(msg, highlight=False))


@app.command("status")
def status(config: ConfigOption = None) -> None:
    """Show which services of the local stack run; exit 1 unless all do."""
    states = _stack(settings_or_exit(config)).status()
    table = Table("service", "state")
    for name, running in states.items():
        table.add_row(name, "[green]up[/green]" if running else "[red]down[/red]")
    out.print(table)
    raise typer.Exit(0 if states and all(states.values()) else 1)


@app.command("env")
def env(config: ConfigOption = None) -> None:
    """Print the stack's connection settings as shell exports: eval "$(python -m devstack env)"."""
    from devstack.stack import env_exports

    settings = settings_or_exit(config)
    endpoints = _stack(settings).endpoints()
    if endpoints is None:
        fail("the local stack was never started: run `python -m devstack up`")
    for key, value in env_exports(endpoints, settings.http.port).items():
        out.print(f"export {key}={shlex.quote(value)}", highlight=False, soft_wrap=True)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


@app.command("demo")
def demo(
    leads: Annotated[int, typer.Option("--leads", "-n", min=1, help="How many sample leads to write.")] = 5000,
    then_run: Annotated[bool, typer.Option(help="Keep the sync running after the summary.")] = False,
    config: ConfigOption = None,
) -> None:
    """Write sample leads to the source and watch the capture and the sink land them."""
    from devstack.demo.run import demo as run_demo

    settings = settings_or_exit(config)
    setup_logging(settings.model_copy(update={"log": settings.log.model_copy(update={"level": "WARNING"})}))
    try:
        summary = asyncio.run(run_demo(settings, leads, err))
    except StreamerError as exc:
        fail(str(exc), 2)
    table = Table("leads written", "landed", "seconds", "leads/s", "p50", "p95", "p99", "failed",
                  title="end to end: source commit to destination (from the sink's histogram)")
    table.add_row(str(summary.leads), str(summary.landed), f"{summary.seconds:.1f}", f"{summary.rate:,.0f}",
                  _ms(summary.p50), _ms(summary.p95), _ms(summary.p99), str(summary.failed))
    out.print(table)
    if summary.landed < summary.leads:
        fail(f"only {summary.landed} of {summary.leads} leads landed")
    if then_run:
        from streamer.cli.app import run

        run(config)  # `streamer run`, in this process


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
