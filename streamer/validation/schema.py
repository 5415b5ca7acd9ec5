"""`streamer validate schema`, the pure part: source columns, through the field mapping, against
the destination's columns → findings and the SQL that fixes the destination.

    report = compare_schema(source_columns, destination_columns, mapping, table="leads")
    report.ok          # False when any finding is an error
    report.fix_sql     # ALTER TABLE ... ADD COLUMN IF NOT EXISTS ...; NOTIFY pgrst, 'reload schema';

The rules (each tested on literal catalogs):
- a column the sync writes that the destination lacks is an error (PostgREST answers PGRST204);
- a type pair is judged by `types.compatibility` (integer→bigint fine, bigint→integer error,
  text→varchar(n) warning, timestamp↔timestamptz warning, narrower numeric warning...);
- a narrower `varchar(n)`/`character(n)` or `numeric(p,s)` that values the source holds now exceed
  (`extents`, measured by the caller for the columns `to_measure` names) is an error, fixed by an
  ALTER to a type wide enough for both (`types.widened`), printed to run as is;
- a destination NOT NULL column that no source column fills and that has no default is an error
  (new leads would fail with 23502); when OpenAPI cannot tell whether it has a default, a warning;
- a nullable source column into a NOT NULL destination column is a warning;
- a mapping entry naming a column the source lacks is an error (a typo: the value never arrives).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from schemas.mapping import SYNC_SOURCE_COLUMN, FieldMapping
from streamer.destination.catalog import Column, Columns
from streamer.destination.fix_sql import (
    MissingColumn,
    Suggestion,
    alter_type_sql,
    alter_type_widening_sql,
    drop_not_null_sql,
    fix_script,
)
from streamer.destination.types import Measure, Severity, SqlType, compatibility, narrowing, widened
from streamer.texts import Said, said

Kind = Literal["missing_column", "type_mismatch", "values_exceed", "not_null_unfilled", "null_into_not_null",
               "unknown_source_column"]
# The sink stamps `sync_source` on every row (docs/design.md, Loop prevention) even if the source
# table or the mapping does not carry it.
STAMPED = Column.of(SYNC_SOURCE_COLUMN, "text")


class Finding(BaseModel):
    """One problem: which destination column, how bad, and what is wrong in a sentence: `message`
    in English, and the same as `code` and `params` (streamer/texts.py) for the console to show in
    the operator's language."""

    model_config = ConfigDict(frozen=True)

    severity: Severity
    kind: Kind
    column: str
    message: str
    source_column: str | None = None
    source_type: str | None = None
    destination_type: str | None = None
    code: str = ""
    params: dict[str, Any] = {}

    @classmethod
    def of(cls, text: Said, **fields: Any) -> Finding:
        """A finding whose `message` is `text` in English, with its code and parameters."""
        return cls(message=text.english, code=text.code, params=text.json()["params"], **fields)

    def __hash__(self) -> int:  # `params` is a dict: hash what identifies the finding
        return hash((self.severity, self.kind, self.column, self.message))


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


@dataclass(frozen=True)
class Extent:
    """The widest values a source column holds now: characters, or integer digits and decimals."""

    max_length: int | None = None
    integer_digits: int | None = None
    scale: int | None = None


def to_measure(source: Sequence[Column], destination: Columns, mapping: FieldMapping) -> dict[str, Measure]:
    """Source column → what to measure in its data: the pairs whose destination is a narrower
    varchar or numeric than the source's type (a warning until the data says otherwise)."""
    wanted: dict[str, Measure] = {}
    for target, column in written_columns(source, mapping).items():
        found = destination.get(target)
        if found is None or column is STAMPED or compatibility(column.type, found.type) is None:
            continue
        measure = narrowing(column.type, found.type)
        if measure is not None:
            wanted[column.name] = measure
    return wanted


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
    extents: Mapping[str, Extent] | None = None,
) -> SchemaReport:
    """Every finding for writing rows of `source` (through `mapping`) into `destination`;
    `extents` (source column → its widest values, see `to_measure`) turns a narrowing the data
    exceeds into an error."""
    written = written_columns(source, mapping)
    findings: list[Finding] = []
    for target, column in written.items():
        found = destination.get(target)
        extent = (extents or {}).get(column.name)
        findings.extend(_missing(target, column) if found is None else _pair(target, column, found, extent))
    findings.extend(_unfilled(destination, written))
    source_names = {c.name for c in source}
    for name, target in mapping.field_mappings.items():
        if name not in source_names:
            findings.append(Finding.of(said("schema.unknown_source_column", source=name, column=target),
                                       severity="error", kind="unknown_source_column", column=target,
                                       source_column=name))
    findings.sort(key=lambda f: (f.severity != "error", f.kind, f.column))
    return SchemaReport(schema_name=schema, table=table, findings=tuple(findings),
                        fix_sql=fix_sql_for(schema, table, findings))


def _missing(target: str, column: Column) -> list[Finding]:
    text = (said("schema.missing_renamed_column", column=target, source=column.name) if column.name != target
            else said("schema.missing_column", column=target))
    return [Finding.of(text, severity="error", kind="missing_column", column=target, source_column=column.name,
                       source_type=str(column.type))]


def _pair(target: str, column: Column, found: Column, extent: Extent | None = None) -> list[Finding]:
    findings = []
    verdict = compatibility(column.type, found.type)
    exceeded = _exceeded(found.type, extent) if verdict is not None and verdict.severity == "warning" else None
    if exceeded is not None and verdict is not None:
        findings.append(Finding.of(said("schema.values_exceed", exceeded=exceeded, reason=verdict.said),
                                   severity="error", kind="values_exceed", column=target, source_column=column.name,
                                   source_type=str(column.type), destination_type=_shown(found.type)))
    elif verdict is not None:
        findings.append(Finding.of(verdict.said, severity=verdict.severity, kind="type_mismatch", column=target,
                                   source_column=column.name, source_type=str(column.type),
                                   destination_type=_shown(found.type)))
    if column.nullable and not found.nullable and column is not STAMPED:
        findings.append(Finding.of(said("schema.null_into_not_null", source=column.name), severity="warning",
                                   kind="null_into_not_null", column=target, source_column=column.name,
                                   source_type=str(column.type), destination_type=_shown(found.type)))
    return findings


def _exceeded(dest: SqlType, extent: Extent | None) -> Said | None:
    """Why values the source holds now do not fit `dest` (a varchar(n) or numeric(p,s)), or None."""
    if extent is None or not dest.modifiers:
        return None
    if extent.max_length is not None and extent.max_length > dest.modifiers[0]:
        return said("schema.exceeds_length", length=extent.max_length, dest=str(dest))
    scale = (dest.modifiers[1:] or (0,))[0]
    if extent.integer_digits is not None and extent.integer_digits > dest.modifiers[0] - scale:
        return said("schema.exceeds_digits", digits=extent.integer_digits, dest=str(dest))
    if extent.scale is not None and extent.scale > scale:
        return said("schema.exceeds_scale", decimals=extent.scale, dest=str(dest), scale=scale)
    return None


def _unfilled(destination: Columns, written: dict[str, Column]) -> list[Finding]:
    findings = []
    for name, column in destination.items():
        if column.nullable or name in written or column.has_default:
            continue
        certain = column.has_default is False
        text = said("schema.not_null_unfilled" if certain else "schema.not_null_maybe_default")
        findings.append(Finding.of(text, severity="error" if certain else "warning", kind="not_null_unfilled",
                                   column=name, destination_type=_shown(column.type)))
    return findings


def _shown(sql_type: SqlType) -> str:
    text = str(sql_type)
    return text if sql_type.modifiers is not None else f"{text} (modifiers unknown)"


def fix_sql_for(schema: str, table: str, findings: Sequence[Finding]) -> str:
    """The paste-ready script for `findings` (see `fix_sql.fix_script`)."""
    missing = [MissingColumn(f.column, f.source_type, SqlType.parse(f.source_type).builtin if f.source_type else True)
               for f in findings if f.kind == "missing_column"]
    suggestions, widenings = [], []
    for f in findings:
        if f.kind == "values_exceed" and f.source_type and f.destination_type:
            wide = widened(SqlType.parse(f.source_type), SqlType.parse(f.destination_type))
            widenings.append(Suggestion(f"{f.column}: {f.message.split(':')[0]}",
                                        alter_type_widening_sql(schema, table, f.column, wide)))
        if f.kind == "type_mismatch" and f.severity == "error" and f.source_type:
            suggestions.append(Suggestion(f"{f.column}: {f.message}",
                                          alter_type_sql(schema, table, f.column, f.source_type)))
        elif f.kind == "not_null_unfilled" and f.severity == "error":
            suggestions.append(Suggestion(f"{f.column}: never filled by the sync (or give it a DEFAULT)",
                                          drop_not_null_sql(schema, table, f.column)))
    return fix_script(schema, table, missing, suggestions, widenings)
