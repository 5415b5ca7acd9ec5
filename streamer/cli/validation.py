"""The validation and troubleshooting commands: `streamer validate schema|config`,
`streamer schema reload-cache` and `streamer doctor` (issue 8)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from connectors.redaction import mask_urls
from streamer.cli.common import ConfigOption, err, fail, out, reported, settings_or_exit
from streamer.config import Settings

validate_app = typer.Typer(no_args_is_help=True, help="Check the destination's schema and the connection to it.")
schema_app = typer.Typer(no_args_is_help=True, help="The destination's PostgREST schema cache.")
if TYPE_CHECKING:
    from collections.abc import Sequence

    from schemas.mapping import FieldMapping
    from streamer.validation.report import Check
_STATUS_STYLE = {"ok": "[green]ok[/green]", "warn": "[yellow]warn[/yellow]", "fail": "[red]FAIL[/red]",
                 "skip": "[dim]skip[/dim]"}


def _mapping_or_exit(settings: Settings) -> FieldMapping:
    from streamer.sink.mapping_admin import problem
    from streamer.validation.schema_check import mapping_from

    try:
        return mapping_from(settings.sink)
    except (OSError, ValueError) as exc:
        fail(f"field mapping {settings.sink.mapping_file} (STREAMER_SINK__MAPPING_FILE): {problem(exc)}", 2)


JsonOption = Annotated[bool, typer.Option("--json", help="Print the checks as a JSON array instead of a table.")]


def _print_checks(checks: Sequence[Check], as_json: bool = False) -> None:
    from dataclasses import replace

    from rich.markup import escape

    # A detail may quote the destination URL, which may carry a password or an ?apikey= (not a secret setting).
    checks = [replace(c, detail=mask_urls(c.detail), fix=mask_urls(c.fix)) for c in checks]
    if as_json:
        import json

        # The English lines only (the codes are the console's: streamer/cli/console.py masks them too).
        rows = [{"name": c.name, "status": c.status, "detail": c.detail, "fix": c.fix} for c in checks]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return

    table = Table("check", "status", "detail", "fix", show_lines=True)
    for c in checks:
        table.add_row(escape(c.name), _STATUS_STYLE[c.status], escape(c.detail), escape(c.fix))
    out.print(table)


@validate_app.command("schema")
def validate_schema_cmd(
    config: ConfigOption = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Compare now, ignoring a cached result.")] = False,
) -> None:
    """Compare the source table, through the field mapping, with the destination; print the fix SQL.

    Exit 0 when no error (warnings are printed but pass), 1 otherwise."""
    from rich.markup import escape

    from streamer.validation.schema_check import validate_schema

    settings = settings_or_exit(config)
    mapping = _mapping_or_exit(settings)
    with reported():  # connector and validation errors carry their own fix
        outcome = asyncio.run(validate_schema(settings, mapping, use_cache=not no_cache))
    report = outcome.report
    if report.findings:
        table = Table("severity", "column", "source", "destination", "problem")
        for f in report.findings:
            style = "[red]error[/red]" if f.severity == "error" else "[yellow]warning[/yellow]"
            table.add_row(style, escape(f.column), escape(f.source_type or ""), escape(f.destination_type or ""),
                          escape(f.message))
        out.print(table)
    cached = " (cached result; --no-cache to compare again)" if outcome.cached else ""
    out.print(f"{report.schema_name}.{report.table}: {len(report.errors)} error(s), {len(report.warnings)} "
              f"warning(s){cached}", highlight=False, markup=False)
    if report.fix_sql:
        out.print("\nSQL to run in Gestão Scouter's SQL editor:\n", highlight=False, markup=False)
        typer.echo(report.fix_sql)
    raise typer.Exit(0 if report.ok else 1)


@validate_app.command("config")
def validate_config_cmd(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """URL, DNS, key role, reachability, OpenAPI, table, write permission (nothing written), RLS."""
    from streamer.validation.config_check import validate_config
    from streamer.validation.report import overall

    settings = settings_or_exit(config)
    checks = asyncio.run(validate_config(settings, _mapping_or_exit(settings)))
    _print_checks(checks, as_json)
    raise typer.Exit(overall(checks))


@schema_app.command("reload-cache")
def schema_reload_cache(config: ConfigOption = None) -> None:
    """Make the destination's PostgREST reload its schema cache; wait until it shows our columns."""
    from streamer.validation.reload import reload_schema_cache
    from streamer.validation.schema_check import result_cache

    settings = settings_or_exit(config)
    last = [0.0]

    def progress(seconds: float, missing: list[str]) -> None:
        if seconds - last[0] >= 5:
            last[0] = seconds
            err.print(f"waiting for the schema cache: {seconds:.0f}s, not yet shown: {', '.join(missing[:5])}",
                      highlight=False, markup=False)

    mapping = _mapping_or_exit(settings)
    with reported():  # a failed check carries its fix; connector errors name what failed
        outcome = asyncio.run(reload_schema_cache(settings, mapping, progress=progress))
    result_cache(settings).clear()
    out.print(outcome.how, highlight=False, markup=False)
    # One outcome per run: success only when every column the sync writes is shown; otherwise one
    # failure naming every reason (columns the database lacks, columns the API still hides).
    problems = []
    if outcome.not_in_database:
        problems.append(f"not in the destination database at all (waiting cannot help): "
                        f"{', '.join(outcome.not_in_database)}; run `streamer validate schema` and apply its SQL")
    if not outcome.wait.ok:
        answer = f" (its last answer: {mask_urls(outcome.wait.last_error)})" if outcome.wait.last_error else ""
        problems.append(f"after {outcome.wait.seconds:.0f}s the API still does not show: "
                        f"{', '.join(outcome.wait.missing)}" + answer)
    if problems:
        fail("the reload was asked for, but " + "; and ".join(problems))
    out.print(f"schema cache reloaded: every expected column shown after {outcome.wait.seconds:.1f}s",
              highlight=False, markup=False)


def doctor_cmd(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Run every check (config, schema, slot, Kafka lag, stuck jobs, errors, loop guards); exit 0/1."""
    from streamer.validation.doctor import doctor
    from streamer.validation.report import overall

    settings = settings_or_exit(config)
    checks = asyncio.run(doctor(settings, _mapping_or_exit(settings)))
    _print_checks(checks, as_json)
    raise typer.Exit(overall(checks))


# History commands (issue 7): export, jobs, replay, errors. Imported last because they reuse the
# helpers above (settings_or_exit, fail, out, err).


def register(app: typer.Typer) -> None:
    app.add_typer(validate_app, name="validate")
    app.add_typer(schema_app, name="schema")
    app.command("doctor")(doctor_cmd)
