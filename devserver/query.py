"""SQL for reads and writes, built from parsed requests and a schema-cache `Table` (pure).

The write statements follow PostgREST v11+ (docs/postgrest.md §1.5): the body is sent once as a `json`
parameter and unpacked in PostgreSQL by `json_to_recordset` with a typed column list taken from
the schema cache, so rows are never re-encoded in Python. Every statement returns one row with
`page_total`, `body` (JSON text or NULL), `total` (a count or NULL) and `inserted`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from devserver.errors import parse_error
from devserver.params import (
    COMPARISONS,
    PATTERNS,
    Filter,
    OrderTerm,
    QueryParams,
    SelectItem,
    is_cast,
)
from devserver.schema_cache import Table

# Count inserts minus updates in a transaction variable; 0 left means "all updates" → 200.
_INSERTED_PLUS = (
    "set_config('pgrst.inserted', (coalesce(nullif(current_setting('pgrst.inserted', true), '')"
    "::int, 0) + 1)::text, true) <> '0'"
)
_INSERTED_MINUS = (
    "set_config('pgrst.inserted', (coalesce(nullif(current_setting('pgrst.inserted', true), '')"
    "::int, 0) - 1)::text, true) <> '-1'"
)


def ident(name: str) -> str:
    """A double-quoted identifier, cut at the first NUL like PostgREST's `escapeIdent`
    (PostgreSQL's protocol cannot carry a NUL inside a query)."""
    return '"' + name.partition("\x00")[0].replace('"', '""') + '"'


def literal(value: str) -> str:
    """A SQL string literal, safe whatever `standard_conforming_strings` says: quotes doubled, and
    with a backslash `E'…'` with backslashes doubled (PostgREST's `pgFmtLit`). A NUL cannot be
    sent: PGRST100."""
    if "\x00" in value:
        raise parse_error("NUL characters are not allowed")
    quoted = "'" + value.replace("'", "''") + "'"
    return "E" + quoted.replace("\\", "\\\\") if "\\" in value else quoted


def qualified(table: Table) -> str:
    return f"{ident(table.schema)}.{ident(table.name)}"


@dataclass
class Args:
    """Positional parameters collected while building a statement."""

    values: list[object] = field(default_factory=list)

    def add(self, value: object) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


@dataclass(frozen=True)
class Statement:
    sql: str
    args: tuple[object, ...]


@dataclass(frozen=True)
class InsertSpec:
    """What a POST asks for, after validation against the cache."""

    columns: tuple[str, ...]
    body_is_array: bool
    resolution: str | None = None  # merge-duplicates | ignore-duplicates
    on_conflict: tuple[str, ...] | None = None
    missing_default: bool = False
    representation: bool = False
    select: tuple[SelectItem, ...] = (SelectItem("*"),)


def conflict_target(table: Table, spec: InsertSpec) -> tuple[str, ...]:
    """`on_conflict` if given, else the PK; empty means "no upsert" (plain insert)."""
    if spec.resolution is None:
        return ()
    return spec.on_conflict or table.primary_key


def build_insert(table: Table, spec: InsertSpec, body: str) -> Statement:
    """`INSERT ... SELECT ... FROM json_to_recordset($1)` with PostgREST's ON CONFLICT clause."""
    args = Args()
    payload = args.add(body)
    target = conflict_target(table, spec)
    merge = spec.resolution == "merge-duplicates" and bool(target)
    cols = ", ".join(ident(c) for c in spec.columns)
    lines = [f"INSERT INTO {qualified(table)}" + (f"({cols})" if cols else "")]
    lines.append(_insert_source(table, spec, payload))
    if merge:
        lines.append(f"WHERE {_INSERTED_PLUS}")
    if target:
        lines.append(_on_conflict(target, spec.columns, merge))
    returning = f"{qualified(table)}.*" if spec.representation else "1"
    lines.append(f"RETURNING {returning}")
    return Statement(_wrap_mutation("\n".join(lines), spec.representation, spec.select), tuple(args.values))


def _insert_source(table: Table, spec: InsertSpec, payload: str) -> str:
    if not spec.columns:
        # `[{}]` or `[]`: one all-defaults row per element; INSERT without a column list takes
        # the defaults for the columns the SELECT does not supply.
        if spec.body_is_array:
            return f"SELECT FROM json_array_elements({payload}::json)"
        return f"SELECT FROM (SELECT {payload}::json) pgrst_payload"
    picked = ", ".join(f"pgrst_body.{ident(c)}" for c in spec.columns)
    names = ", ".join(ident(c) for c in spec.columns)
    typed = ", ".join(f"{ident(c)} {table.columns[c].sql_type}" for c in spec.columns)
    defaults = _default_pairs(table, spec) if spec.missing_default else ""
    if defaults:
        source = (
            f"(SELECT {payload}::jsonb AS json_data) pgrst_payload, "
            f"LATERAL (SELECT jsonb_agg(jsonb_build_object({defaults}) || elem) AS val "
            "FROM jsonb_array_elements(CASE WHEN jsonb_typeof(pgrst_payload.json_data) = 'array' "
            "THEN pgrst_payload.json_data ELSE jsonb_build_array(pgrst_payload.json_data) END) elem"
            ") pgrst_json_defs, "
            f"LATERAL (SELECT {names} FROM jsonb_to_recordset(pgrst_json_defs.val) AS _({typed})"
            ") pgrst_body"
        )
    else:
        unpack = "json_to_recordset" if spec.body_is_array else "json_to_record"
        source = (
            f"(SELECT {payload}::json AS json_data) pgrst_payload, "
            f"LATERAL (SELECT {names} FROM {unpack}(pgrst_payload.json_data) AS _({typed})"
            ") pgrst_body"
        )
    return f"SELECT {picked} FROM {source}"


def _default_pairs(table: Table, spec: InsertSpec) -> str:
    """`'col', <default expr>` for insert columns that have a DEFAULT (missing=default)."""
    pairs = [
        f"{literal(c)}, {table.columns[c].default}" for c in spec.columns if table.columns[c].default is not None
    ]
    return ", ".join(pairs)


def _on_conflict(target: Sequence[str], columns: Sequence[str], merge: bool) -> str:
    clause = "ON CONFLICT(" + ", ".join(ident(c) for c in target) + ")"
    if not merge or not columns:
        return clause + " DO NOTHING"
    sets = ", ".join(f"{ident(c)} = EXCLUDED.{ident(c)}" for c in columns)
    return f"{clause} DO UPDATE SET {sets} WHERE {_INSERTED_MINUS}"


def _wrap_mutation(mutation: str, representation: bool, select: Sequence[SelectItem]) -> str:
    projection = select_list(select, "pgrst_source") if representation else "1"
    body = "coalesce(json_agg(_pgrst_t), '[]')::text" if representation else "NULL::text"
    return (
        f"WITH pgrst_source AS (\n{mutation}\n)\n"
        f"SELECT pg_catalog.count(_pgrst_t) AS page_total, {body} AS body, NULL::bigint AS total,\n"
        "  nullif(current_setting('pgrst.inserted', true), '')::int AS inserted\n"
        f"FROM (SELECT {projection} FROM pgrst_source) _pgrst_t"
    )


def build_update(
    table: Table, columns: Sequence[str], params: QueryParams, body: str, representation: bool
) -> Statement:
    """PATCH: `UPDATE ... SET c = pgrst_body.c FROM json_to_record($1)` with the filters.

    With no columns (`{}`) there is nothing to SET: like PostgREST (Query/QueryBuilder.hs), an
    empty selection from the table stands in, so the PATCH changes nothing and returns no rows.
    """
    if not columns:
        returning = f"{qualified(table)}.*" if representation else "1"
        mutation = f"SELECT {returning} FROM {qualified(table)} WHERE false"
        return Statement(_wrap_mutation(mutation, representation, params.select), ())
    args = Args()
    payload = args.add(body)
    typed = ", ".join(f"{ident(c)} {table.columns[c].sql_type}" for c in columns)
    names = ", ".join(ident(c) for c in columns)
    sets = ", ".join(f"{ident(c)} = pgrst_body.{ident(c)}" for c in columns)
    where = where_clause(table, params.filters, args)
    returning = f"{qualified(table)}.*" if representation else "1"
    mutation = (
        f"UPDATE {qualified(table)} SET {sets}\n"
        f"FROM (SELECT {payload}::json AS json_data) pgrst_payload, "
        f"LATERAL (SELECT {names} FROM json_to_record(pgrst_payload.json_data) AS _({typed})) pgrst_body\n"
        f"{where}\nRETURNING {returning}"
    )
    return Statement(_wrap_mutation(mutation, representation, params.select), tuple(args.values))


def build_delete(table: Table, params: QueryParams, representation: bool) -> Statement:
    """DELETE with the filters; RETURNING the rows under return=representation."""
    args = Args()
    where = where_clause(table, params.filters, args)
    returning = f"{qualified(table)}.*" if representation else "1"
    mutation = f"DELETE FROM {qualified(table)}\n{where}\nRETURNING {returning}"
    return Statement(_wrap_mutation(mutation, representation, params.select), tuple(args.values))


def build_select(table: Table, params: QueryParams, *, max_rows: int, exact_count: bool) -> Statement:
    """GET: the page as a JSON array, its size, and the total under count=exact.

    `db-max-rows` caps the page silently (docs/postgrest.md §6).
    """
    args = Args()
    where = where_clause(table, params.filters, args)
    limit = min(params.limit, max_rows) if params.limit is not None else max_rows
    order = order_clause(table, params.order)
    page = (
        f"SELECT {select_list(params.select, qualified(table))} FROM {qualified(table)} {where}"
        f"{order} LIMIT {limit} OFFSET {params.offset}"
    )
    total = f"(SELECT pg_catalog.count(*) FROM {qualified(table)} {where})" if exact_count else "NULL::bigint"
    sql = (
        "SELECT pg_catalog.count(_pgrst_t) AS page_total, "
        "coalesce(json_agg(_pgrst_t), '[]')::text AS body, "
        f"{total} AS total, NULL::int AS inserted\nFROM ({page}) _pgrst_t"
    )
    return Statement(sql, tuple(args.values))


def select_list(items: Sequence[SelectItem], source: str) -> str:
    """`*` or `source."a", source."b"::text AS "b", source."c" AS "alias"`."""
    parts: list[str] = []
    for item in items:
        if item.column == "*":
            parts.append(f"{source}.*")
            continue
        expr = f"{source}.{ident(item.column)}"
        if item.cast:
            expr = f"CAST({expr} AS {_type_name(item.cast)})"
        if item.alias or item.cast:
            expr = f"{expr} AS {ident(item.alias or item.column)}"
        parts.append(expr)
    return ", ".join(parts)


def where_clause(table: Table, filters: Sequence[Filter], args: Args) -> str:
    conditions = [_condition(table, f, args) for f in filters]
    return ("WHERE " + " AND ".join(conditions)) if conditions else ""


def _condition(table: Table, flt: Filter, args: Args) -> str:
    column = f"{qualified(table)}.{ident(flt.column)}"
    known = table.columns.get(flt.column)
    sql_type = known.sql_type if known else None
    if flt.op == "is":
        condition = f"{column} IS {flt.value}"
    elif flt.op == "in":
        array_type = f"{sql_type}[]" if sql_type and not sql_type.endswith("]") else "text[]"
        condition = f"{column} = ANY({args.add(list(flt.value))}::text[]::{array_type})"
    elif flt.op in PATTERNS:
        condition = f"{column}::text {PATTERNS[flt.op]} {args.add(flt.value)}::text"
    else:
        param = args.add(flt.value) + "::text"
        if sql_type:
            param = f"{param}::{sql_type}"
        condition = f"{column} {COMPARISONS[flt.op]} {param}"
    return f"NOT ({condition})" if flt.negate else condition


def order_clause(table: Table, terms: Sequence[OrderTerm]) -> str:
    if not terms:
        return ""
    parts = []
    for term in terms:
        part = f"{qualified(table)}.{ident(term.column)} {'DESC' if term.descending else 'ASC'}"
        if term.nulls:
            part += f" NULLS {term.nulls.upper()}"
        parts.append(part)
    return " ORDER BY " + ", ".join(parts)


def _type_name(cast: str) -> str:
    """A cast from the URL, pasted unquoted as PostgREST does (`pgFmtApplyCast`); only the cast
    grammar the parser enforces (`params.is_cast`) makes that safe, so it is checked again here."""
    if not is_cast(cast):
        raise ValueError(f"not a cast name: {cast!r}")
    return cast
