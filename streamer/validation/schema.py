"""`streamer validate schema`, the pure part: source columns, through the field mapping, against
the destination's columns → findings and the SQL that fixes the destination.

    report = compare_schema(source_columns, destination_columns, mapping, table="leads")
    report.ok          # False when any finding is an error
    report.fix_sql     # ALTER TABLE ... ADD COLUMN IF NOT EXISTS ...; NOTIFY pgrst, 'reload schema';

The rules (each tested on literal catalogs):
- a column the sync writes that the destination lacks is an error (PostgREST answers PGRST204);
- a type pair is judged by `types.compatibility` (integer→bigint fine, bigint→integer error,
  text→varchar(n) warning, timestamp↔timestamptz warning, narrower numeric warning...);
- a destination NOT NULL column that no source column fills and that has no default is an error
  (new leads would fail with 23502); when OpenAPI cannot tell whether it has a default, a warning;
- a nullable source column into a NOT NULL destination column is a warning;
- a mapping entry naming a column the source lacks is a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from schemas.mapping import SYNC_SOURCE_COLUMN, FieldMapping
from streamer.destination.catalog import Column, Columns
from streamer.destination.fix_sql import (
    MissingColumn,
    Suggestion,
    alter_type_sql,
    drop_not_null_sql,
    fix_script,
)
from streamer.destination.types import Severity, SqlType, compatibility

Kind = Literal["missing_column", "type_mismatch", "not_null_unfilled", "null_into_not_null", "unknown_source_column"]
# The sink stamps `sync_source` on every row (docs/design.md, Loop prevention) even if the source
# table or the mapping does not carry it.
STAMPED = Column.of(SYNC_SOURCE_COLUMN, "text")


class Finding(BaseModel):
    """One problem: which destination column, how bad, and what is wrong in a sentence."""

    model_config = ConfigDict(frozen=True)

    severity: Severity
    kind: Kind
    column: str
    message: str
    source_column: str | None = None
    source_type: str | None = None
    destination_type: str | None = None


class SchemaReport(BaseModel):
    """The outcome of one comparison; `fix_sql` is empty when nothing needs fixing."""

    model_config = ConfigDict(frozen=True)

    schema_name: str
    table: str
    findings: tuple[Finding, ...] = ()
    fix_sql: str = ""

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        """No errors (warnings alone still pass)."""
        return not self.errors

    @property
    def missing_columns(self) -> list[str]:
        return [f.column for f in self.findings if f.kind == "missing_column"]


def written_columns(source: Sequence[Column], mapping: FieldMapping) -> dict[str, Column]:
    """Destination name → the source column that fills it, `sync_source` included."""
    written: dict[str, Column] = {}
    for column in source:
        target = mapping.destination_name(column.name)
        if target is not None and target not in written:
            written[target] = column
    written.setdefault(SYNC_SOURCE_COLUMN, STAMPED)
    return written


def compare_schema(
    source: Sequence[Column], destination: Columns, mapping: FieldMapping, *, table: str, schema: str = "public",
) -> SchemaReport:
    """Every finding for writing rows of `source` (through `mapping`) into `destination`."""
    written = written_columns(source, mapping)
    findings: list[Finding] = []
    for target, column in written.items():
        found = destination.get(target)
        findings.extend(_missing(target, column) if found is None else _pair(target, column, found))
    findings.extend(_unfilled(destination, written))
    source_names = {c.name for c in source}
    for name, target in mapping.field_mappings.items():
        if name not in source_names:
            findings.append(Finding(severity="warning", kind="unknown_source_column", column=target, source_column=name,
                                    message=f"the mapping names source column {name!r}, which the source table lacks"))
    findings.sort(key=lambda f: (f.severity != "error", f.kind, f.column))
    return SchemaReport(schema_name=schema, table=table, findings=tuple(findings),
                        fix_sql=fix_sql_for(schema, table, findings))


def _missing(target: str, column: Column) -> list[Finding]:
    renamed = f" (from source column {column.name!r})" if column.name != target else ""
    return [Finding(severity="error", kind="missing_column", column=target, source_column=column.name,
                    source_type=str(column.type),
                    message=f"the destination has no column {target!r}{renamed}: writes fail with PGRST204")]


def _pair(target: str, column: Column, found: Column) -> list[Finding]:
    findings = []
    verdict = compatibility(column.type, found.type)
    if verdict is not None:
        findings.append(Finding(severity=verdict.severity, kind="type_mismatch", column=target,
                                source_column=column.name, source_type=str(column.type),
                                destination_type=_shown(found.type), message=verdict.reason))
    if column.nullable and not found.nullable and column is not STAMPED:
        findings.append(Finding(severity="warning", kind="null_into_not_null", column=target,
                                source_column=column.name, source_type=str(column.type),
                                destination_type=_shown(found.type),
                                message=f"source {column.name!r} may be NULL; the destination refuses NULL "
                                        "(23502) and such leads land in the error table"))
    return findings


def _unfilled(destination: Columns, written: dict[str, Column]) -> list[Finding]:
    findings = []
    for name, column in destination.items():
        if column.nullable or name in written or column.has_default:
            continue
        certain = column.has_default is False
        message = ("NOT NULL without a default, and the sync never fills it: every new lead fails (23502)"
                   if certain else
                   "NOT NULL and the sync never fills it; the OpenAPI document cannot show whether it has "
                   "a default (configure STREAMER_DESTINATION__DSN to know)")
        findings.append(Finding(severity="error" if certain else "warning", kind="not_null_unfilled",
                                column=name, destination_type=_shown(column.type), message=message))
    return findings


def _shown(sql_type: SqlType) -> str:
    text = str(sql_type)
    return text if sql_type.modifiers is not None else f"{text} (modifiers unknown)"


def fix_sql_for(schema: str, table: str, findings: Sequence[Finding]) -> str:
    """The paste-ready script for `findings` (see `fix_sql.fix_script`)."""
    missing = [MissingColumn(f.column, f.source_type, SqlType.parse(f.source_type).builtin if f.source_type else True)
               for f in findings if f.kind == "missing_column"]
    suggestions = []
    for f in findings:
        if f.kind == "type_mismatch" and f.severity == "error" and f.source_type:
            suggestions.append(Suggestion(f"{f.column}: {f.message}",
                                          alter_type_sql(schema, table, f.column, f.source_type)))
        elif f.kind == "not_null_unfilled" and f.severity == "error":
            suggestions.append(Suggestion(f"{f.column}: never filled by the sync (or give it a DEFAULT)",
                                          drop_not_null_sql(schema, table, f.column)))
    return fix_script(schema, table, missing, suggestions)
