"""`streamer verify`: compare the source's and the destination's leads; `--repair` re-lands what
differs through the topic as a retry job (README, Verify & repair).

Exit status: 0 when both sides hold the same leads, 1 when they differ (or an error), 2 on a
usage or configuration error.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from streamer.cli.common import ConfigOption, fail, out, reported, settings_or_exit, setup_logging
from streamer.cli.history import Follow, RunHere, start_job
from streamer.verify.merkle import Differences


def parse_columns(values: list[str] | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """`--columns a,b --columns c` → ("a", "b", "c"); the setting when none is given.

    >>> parse_columns(["name,email", "etapa"], ())
    ('name', 'email', 'etapa')
    """
    if not values:
        return default
    names = tuple(n.strip() for v in values for n in v.split(",") if n.strip())
    if any(n in ("id", "updated_at") for n in names):
        raise ValueError("--columns: id and updated_at are always hashed; name other columns")
    return tuple(dict.fromkeys(names))


def differences_table(found: Differences) -> Table:
    table = Table("difference", "leads", "first ids", title="source vs destination")
    for kind, count, first in (("missing (source only)", found.missing, found.first_missing),
                               ("extra (destination only)", found.extra, found.first_extra),
                               ("different", found.different, found.first_different)):
        more = " …" if count > len(first) else ""
        table.add_row(kind, f"{count:,}", ", ".join(map(str, first)) + more)
    return table


def verify_command(
    columns: Annotated[list[str] | None, typer.Option(
        "--columns", help="Also compare these columns (comma-separated or repeated).")] = None,
    show: Annotated[int | None, typer.Option(min=0, help="How many ids to print per kind.")] = None,
    repair: Annotated[bool, typer.Option(
        "--repair", help="Re-land missing and different leads through the topic, as a retry job.")] = False,
    delete_extra: Annotated[bool, typer.Option(
        "--delete-extra", help="With --repair: delete the leads only the destination has.")] = False,
    run_here: RunHere = False, follow_it: Follow = False, config: ConfigOption = None,
) -> None:
    """Compare source and destination leads by id ranges (counts and hashes of id, updated_at)."""
    if delete_extra and not repair:
        fail("--delete-extra goes with --repair", 2)
    if (run_here or follow_it) and not repair:
        fail("--run-here and --follow go with --repair", 2)
    settings = settings_or_exit(config)
    with reported():
        chosen = parse_columns(columns, settings.verify.columns)
    setup_logging(settings.model_copy(update={"log": settings.log.model_copy(update={"level": "WARNING"})}))
    if not repair:
        from streamer.verify.run import verify

        with reported():
            result = asyncio.run(verify(settings, columns=chosen, keep=show))
    else:
        from streamer.verify.repair import verify_and_repair

        with reported():
            result, filed, deleted = asyncio.run(verify_and_repair(
                settings, actor=settings.history.operator, columns=chosen, delete_extras=delete_extra, keep=show))
    found = result.found
    out.print(differences_table(found))
    out.print(f"{found.ranges_compared:,} ranges compared, {found.rows_listed:,} rows listed, "
              f"destination read by {result.destination_read}, {result.seconds:.2f} s", highlight=False)
    if repair:
        if deleted:
            out.print(f"{deleted:,} extra leads deleted at the destination", highlight=False)
        elif found.extra and not delete_extra:
            out.print(f"{found.extra:,} extra leads left in place (--delete-extra deletes them)", highlight=False)
        if filed.job is not None:
            out.print(f"re-landing {filed.filed['missing']:,} missing and {filed.filed['different']:,} different "
                      f"leads", highlight=False)
            start_job(settings, filed.job, run_here=run_here, follow_it=follow_it)
    raise typer.Exit(0 if found.total == 0 else 1)


def register(app: typer.Typer) -> None:
    """Add `streamer verify` to the `streamer` command."""
    app.command("verify")(verify_command)
