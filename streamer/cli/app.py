"""The `streamer` command: a thin layer that reads the settings once and wires the parts."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from connectors.redaction import masked_urls
from streamer.cli import render

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Keeps Gestão Scouter's leads in step with TabuladorMax through Kafka.")
config_app = typer.Typer(no_args_is_help=True, help="Inspect the effective configuration.")
db_app = typer.Typer(no_args_is_help=True, help="Apply the product's SQL to a database.")
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
keys_app = typer.Typer(no_args_is_help=True, help="API keys for a PostgREST you run yourself.")
app.add_typer(keys_app, name="keys")
reverse_app = typer.Typer(no_args_is_help=True, help="The reverse path: Gestão Scouter -> TabuladorMax.")
app.add_typer(reverse_app, name="reverse")
slot_app = typer.Typer(no_args_is_help=True, help="The capture's logical replication slot.")
mapping_app = typer.Typer(no_args_is_help=True, help="The sink's field mapping: show, export, import.")
app.add_typer(mapping_app, name="mapping")
app.add_typer(slot_app, name="slot")

from streamer.cli.common import ConfigOption, fail, out, reported, settings_or_exit, setup_logging  # noqa: E402


@config_app.command("show")
def config_show(config: ConfigOption = None) -> None:
    """Print the effective configuration as JSON, secrets masked."""
    settings = settings_or_exit(config)
    out.print_json(data=masked_urls(settings.model_dump(mode="json")))


@db_app.command("migrate")
def db_migrate(
    target: Annotated[str, typer.Option(help="source, destination or both")] = "both",
    config: ConfigOption = None,
) -> None:
    """Create or update the product's tables (idempotent: safe to run again)."""
    from streamer.migrate import migrate

    settings = settings_or_exit(config)
    targets = ("source", "destination") if target == "both" else (target,)
    if any(t not in ("source", "destination") for t in targets):
        fail(f"--target must be source, destination or both, not {target!r}", 2)
    with reported():
        for name in targets:
            for outcome in asyncio.run(migrate(settings, name)):  # type: ignore[arg-type]
                out.print(f"{name}: {outcome.name}: {outcome.action}", highlight=False)


@keys_app.command("issue")
def keys_issue(
    role: Annotated[str, typer.Option(help="anon or service_role")] = "service_role",
    secret: Annotated[str, typer.Option(envvar="JWT_SECRET", help="The project's JWT secret.")] = "",
) -> None:
    """Sign a Supabase-style API key (an HS256 JWT carrying `role`) with the JWT secret."""
    from connectors.postgrest.keys import issue_key

    if len(secret) < 32:
        fail("JWT_SECRET (or --secret) must be 32 characters or more, as PostgREST requires", 2)
    typer.echo(issue_key(secret, role))


@slot_app.command("status")
def slot_status(config: ConfigOption = None) -> None:
    """Show the capture slot: active, confirmed position, retained WAL; exit 1 if it is missing."""
    from streamer.slots import read_status

    settings = settings_or_exit(config)
    with reported():
        status = asyncio.run(read_status(settings))
    if status is None:
        fail(f"no slot named {settings.source.slot!r} on the source (the capture creates it at start)")
    out.print(render.fields_table(status))


@slot_app.command("drop")
def slot_drop(config: ConfigOption = None,
              yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False) -> None:
    """Drop the capture slot and its publication, releasing the WAL it retains."""
    from streamer.slots import drop

    settings = settings_or_exit(config)
    if not yes:
        typer.confirm(f"Drop slot {settings.source.slot!r}? Changes not yet captured will not be captured", abort=True)
    with reported():
        dropped = asyncio.run(drop(settings))
    out.print(f"slot {settings.source.slot}: {'dropped' if dropped else 'did not exist'}", highlight=False)


@mapping_app.command("show")
def mapping_show(config: ConfigOption = None) -> None:
    """Print the field mapping the sink uses (the seed's format), as JSON."""
    from streamer.sink.mapping_admin import effective

    settings = settings_or_exit(config)
    with reported():
        mapping = effective(settings)
    out.print_json(mapping.to_json())


@mapping_app.command("export")
def mapping_export(path: Annotated[Path, typer.Argument(help="File to write.")], config: ConfigOption = None) -> None:
    """Write the effective field mapping to a file."""
    from streamer.sink.mapping_admin import export

    settings = settings_or_exit(config)
    with reported():
        export(settings, path)
    out.print(f"mapping written to {path}", highlight=False, markup=False)


@mapping_app.command("import")
def mapping_import(path: Annotated[Path, typer.Argument(help="A mapping file to install.")],
                   config: ConfigOption = None) -> None:
    """Check a mapping file against the destination and install it as the sink's mapping (audited)."""
    from streamer.sink.mapping_admin import import_mapping

    settings = settings_or_exit(config)
    with reported():
        mapping = import_mapping(settings, path)
    out.print(f"installed {len(mapping.field_mappings)} field mapping(s) as {settings.sink.mapping_file}; "
              "a running sink takes it up within seconds", highlight=False)


@app.command("check")
def check(config: ConfigOption = None) -> None:
    """Connect to the source, Kafka and the destination; print what works; exit 0 or 1."""
    from streamer.check import run_checks

    settings = settings_or_exit(config)
    results = asyncio.run(run_checks(settings))
    out.print(render.check_table(results))
    raise typer.Exit(0 if all(r.ok for r in results) else 1)


@app.command("run")
def run(config: ConfigOption = None) -> None:
    """Run the configured components in one process until SIGTERM."""
    from streamer.cli.components import build_components
    from streamer.metrics import Metrics
    from streamer.service import bind_http, serve

    settings = settings_or_exit(config)
    setup_logging(settings)
    metrics = Metrics()
    with reported():  # a component's settings or the port: ConfigError, exit 2
        components = build_components(settings, metrics)
        sock = bind_http(settings.http.host, settings.http.port)  # before any component starts
    raise typer.Exit(asyncio.run(serve(settings, components, metrics, sock=sock, freeze=True)))


@reverse_app.command("trigger-sql")
def reverse_trigger_sql(
    url: Annotated[str, typer.Option(help="The webhook's public URL (https), ending in /sync-from-gestao-scouter.")],
    secret_name: Annotated[str, typer.Option(help="The Vault secret holding TabuladorMax's key.")] =
        "tabuladormax_webhook_key",
) -> None:
    """Print the SQL that makes Gestão Scouter post its changed leads to the webhook."""
    from streamer.webhook.trigger_sql import trigger_sql

    try:
        typer.echo(trigger_sql(url, secret_name=secret_name), nl=False)
    except ValueError as exc:
        fail(str(exc), 2)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


from streamer.cli.validation import register as _register_validation  # noqa: E402 - after `app`

_register_validation(app)
from streamer.cli.history import register as _register_history  # noqa: E402

_register_history(app)
from streamer.cli.verify import register as _register_verify  # noqa: E402

_register_verify(app)
from streamer.cli.notify import register as _register_notify  # noqa: E402

_register_notify(app)
