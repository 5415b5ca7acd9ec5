"""The Swagger 2.0 document PostgREST serves at `GET /` (docs/postgrest.md §5), built from a snapshot.

`build_openapi(cache, schema, visible)` is pure: `visible` is the set of table names the
requesting role holds some privilege on (follow-privileges), and `executable` the names of the
functions it may EXECUTE (listed as `/rpc/<name>`, §9), both queried in the request transaction.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

import orjson

from devserver.schema_cache import Column, Routine, RoutineParam, SchemaCache, Table

VERSION = "12.2.12 (lead-sync-streamer dev server)"
PRIVILEGES_SQL = """
SELECT c.relname::text AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
  AND (has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE')
       OR has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE'))
"""
EXECUTABLE_SQL = """
SELECT DISTINCT p.proname::text AS name
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = $1 AND p.prokind = 'f' AND has_function_privilege(p.oid, 'EXECUTE')
"""
_STRING_TYPES = {"character varying", "character", "text"}
_INTEGER_TYPES = {"smallint", "integer", "bigint"}
_NUMBER_TYPES = {"numeric", "real", "double precision"}
_QUOTED_DEFAULT = re.compile(r"^'(.*)'::[\w\s\".\[\]]+$", re.DOTALL)


def json_type(data_type: str) -> str | None:
    """The OpenAPI `type` for a PostgreSQL type name; None for json/jsonb (no type)."""
    if data_type.endswith("[]"):
        return "array"
    if data_type in ("json", "jsonb"):
        return None
    if data_type == "boolean":
        return "boolean"
    if data_type in _INTEGER_TYPES:
        return "integer"
    if data_type in _NUMBER_TYPES:
        return "number"
    return "string"


def openapi_default(column: Column) -> object | None:
    """PostgREST's `parseDefault`: strings keep any default as text, others only JSON literals."""
    raw = column.default
    if raw is None:
        return None
    if json_type(column.data_type) == "string":
        quoted = _QUOTED_DEFAULT.match(raw)
        return quoted.group(1).replace("''", "'") if quoted else raw
    try:
        value: object = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None  # nextval(...), '{}'::jsonb and other expressions are dropped
    return value


def column_property(table: Table, column: Column) -> dict[str, Any]:
    prop: dict[str, Any] = {}
    kind = json_type(column.data_type)
    if kind is not None:
        prop["type"] = kind
    prop["format"] = column.data_type
    default = openapi_default(column)
    if default is not None:
        prop["default"] = default
    if column.max_length is not None:
        prop["maxLength"] = column.max_length
    if column.enum:
        prop["enum"] = list(column.enum)
    if kind == "array":
        prop["items"] = {"type": json_type(column.data_type[:-2]) or "string"}
    description = _description(table, column)
    if description:
        prop["description"] = description
    return prop


def _description(table: Table, column: Column) -> str | None:
    notes = []
    if column.name in table.primary_key:
        notes.append("Note:\nThis is a Primary Key.<pk/>")
    for fk in table.foreign_keys:
        if fk.column == column.name:
            notes.append(
                f"Note:\nThis is a Foreign Key to `{fk.target_table}.{fk.target_column}`."
                f"<fk table='{fk.target_table}' column='{fk.target_column}'/>"
            )
    parts = ([column.description] if column.description else []) + notes
    return "\n\n".join(parts) or None


def table_definition(table: Table) -> dict[str, Any]:
    definition: dict[str, Any] = {"type": "object"}
    if table.description:
        definition["description"] = table.description
    if not table.is_view:
        required = [c.name for c in table.columns.values() if not c.nullable]
        if required:
            definition["required"] = required
    definition["properties"] = {c.name: column_property(table, c) for c in table.columns.values()}
    return definition


def _path_item(table: Table) -> dict[str, Any]:
    ref = {"$ref": f"#/definitions/{table.name}"}
    ok = {"description": "OK", "schema": {"items": ref, "type": "array"}}
    item: dict[str, Any] = {"get": {"tags": [table.name], "responses": {"200": ok}}}
    if not table.is_view:
        item["post"] = {"tags": [table.name], "responses": {"201": {"description": "Created"}}}
        item["patch"] = {"tags": [table.name], "responses": {"204": {"description": "No Content"}}}
        item["delete"] = {"tags": [table.name], "responses": {"204": {"description": "No Content"}}}
    return item


def _param_schema(param: RoutineParam) -> dict[str, Any]:
    prop: dict[str, Any] = {}
    kind = json_type(param.data_type)
    if kind is not None:
        prop["type"] = kind
    if kind == "array":
        prop["items"] = {"type": json_type(param.data_type[:-2]) or "string"}
    prop["format"] = param.data_type
    return prop


def _rpc_path_item(routine: Routine) -> dict[str, Any]:
    """`/rpc/<name>`: a GET (arguments as query parameters) and a POST (arguments as the body's
    object), tagged `(rpc) <name>`; the comment's first line is the summary, the rest the description."""
    operation: dict[str, Any] = {}
    if routine.description:
        summary, _, rest = routine.description.partition("\n")
        operation["summary"] = summary
        if rest.lstrip("\n"):
            operation["description"] = rest.lstrip("\n")
    operation["tags"] = [f"(rpc) {routine.name}"]
    operation["produces"] = ["application/json", "application/vnd.pgrst.object+json"]
    operation["responses"] = {"200": {"description": "OK"}}
    get_params = []
    for p in routine.params:
        query = {"in": "query", "name": p.name, "required": p.required, **_param_schema(p)}
        if query.get("type") == "array":  # arrays travel as {a,b} literals in a query string
            query["type"] = "string"
            query.pop("items")
        elif "type" not in query:
            query["type"] = "string"
        get_params.append(query)
    body: dict[str, Any] = {"type": "object", "properties": {p.name: _param_schema(p) for p in routine.params}}
    required = [p.name for p in routine.params if p.required]
    if required:
        body["required"] = required
    if routine.description:
        body["description"] = routine.description
    post_params = [{"in": "body", "name": "args", "required": True, "schema": body}]
    return {"get": {**operation, "parameters": get_params}, "post": {**operation, "parameters": post_params}}


def build_openapi(
    cache: SchemaCache,
    schema: str,
    visible: Collection[str],
    *,
    host: str,
    base_path: str,
    executable: Collection[str] = (),
) -> dict[str, Any]:
    """The Swagger 2.0 document for `schema`, listing only `visible` tables and `executable` functions."""
    tables = [t for t in cache.in_schema(schema) if t.name in visible]
    paths: dict[str, Any] = {"/": {"get": {"tags": ["Introspection"], "responses": {"200": {"description": "OK"}}}}}
    paths.update({f"/{t.name}": _path_item(t) for t in tables})
    paths.update({f"/rpc/{r.name}": _rpc_path_item(r) for r in cache.routines_in(schema) if r.name in executable})
    media = ["application/json", "application/vnd.pgrst.object+json", "text/csv"]
    return {
        "swagger": "2.0",
        "info": {
            "description": "This is a dynamic API generated by PostgREST",
            "title": "PostgREST API",
            "version": VERSION,
        },
        "host": host,
        "basePath": base_path,
        "schemes": ["http"],
        "consumes": media,
        "produces": media,
        "paths": paths,
        "definitions": {t.name: table_definition(t) for t in tables},
    }
