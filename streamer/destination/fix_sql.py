"""The SQL that fixes the destination, ready to paste into Gestão Scouter's SQL editor.

Only statements that cannot lose data run as printed (`ADD COLUMN IF NOT EXISTS`); changing a
column's type or nullability is left as a commented suggestion to review, because it rewrites or
constrains rows that already exist.

    >>> print(add_column_sql("public", "leads", "apelido", "text"))
    ALTER TABLE public.leads ADD COLUMN IF NOT EXISTS "apelido" text;
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from connectors.postgres.slot import quote_ident

# PostgREST reloads its schema cache on this notification (docs/postgrest.md §4); Supabase's event
# trigger sends it after DDL too, but a plain PostgREST (or our dev server) needs it said.
RELOAD_NOTIFY = "NOTIFY pgrst, 'reload schema';"
_PLAIN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def qualified(schema: str, table: str) -> str:
    """`public.leads`; a part that is not a plain lower-case name is quoted."""
    return ".".join(part if _PLAIN.match(part) else quote_ident(part) for part in (schema, table))


def add_column_sql(schema: str, table: str, column: str, type_text: str) -> str:
    return f"ALTER TABLE {qualified(schema, table)} ADD COLUMN IF NOT EXISTS {quote_ident(column)} {type_text};"


@dataclass(frozen=True)
class MissingColumn:
    """A destination column to add, with the source's exact type (None when unknown)."""

    name: str
    type_text: str | None
    builtin: bool = True


@dataclass(frozen=True)
class Suggestion:
    """A statement to review before running (a type change, a dropped NOT NULL)."""

    why: str
    sql: str


def fix_script(schema: str, table: str, missing: Sequence[MissingColumn],
               suggestions: Sequence[Suggestion] = (), widenings: Sequence[Suggestion] = ()) -> str:
    """The whole script: the ADD COLUMNs, the widening type changes (a wider varchar or numeric
    keeps every stored value), the reload notification, then commented suggestions.
    Empty when there is nothing to fix."""
    if not missing and not suggestions and not widenings:
        return ""
    lines = [f"-- Run in Gestão Scouter's SQL editor (fixes {qualified(schema, table)} for the lead sync)."]
    for column in missing:
        if column.type_text is None:
            lines.append(f"-- type of {quote_ident(column.name)} unknown here: check the source table, then")
            lines.append("-- " + add_column_sql(schema, table, column.name, "<type>"))
            continue
        if not column.builtin:
            lines.append(f"-- {column.type_text} is not a built-in type: create it at the destination first")
        lines.append(add_column_sql(schema, table, column.name, column.type_text))
    for widening in widenings:
        lines.append(f"-- {widening.why}")
        lines.append(widening.sql)
    if widenings or any(c.type_text is not None for c in missing):
        lines.append(RELOAD_NOTIFY)
    if suggestions:
        lines.append("-- Review before running (these change existing rows or constraints):")
        for suggestion in suggestions:
            lines.append(f"-- {suggestion.why}")
            lines.append(f"-- {suggestion.sql}")
    return "\n".join(lines) + "\n"


def alter_type_sql(schema: str, table: str, column: str, type_text: str) -> str:
    name = quote_ident(column)
    return f"ALTER TABLE {qualified(schema, table)} ALTER COLUMN {name} TYPE {type_text} USING {name}::{type_text};"


def alter_type_widening_sql(schema: str, table: str, column: str, type_text: str) -> str:
    """A type change to a wider varchar/numeric/text: every stored value converts unchanged."""
    return f"ALTER TABLE {qualified(schema, table)} ALTER COLUMN {quote_ident(column)} TYPE {type_text};"


def drop_not_null_sql(schema: str, table: str, column: str) -> str:
    return f"ALTER TABLE {qualified(schema, table)} ALTER COLUMN {quote_ident(column)} DROP NOT NULL;"
