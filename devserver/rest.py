"""The `/rest/v1/` endpoints: request → checks in PostgREST's order → SQL → response.

Check order (docs/postgrest.md §1.2): JWT, schema cache loaded, request parsing (Profile, query string,
body), table lookup (PGRST205), column lookup (PGRST204), `handling=strict` (PGRST122), then the
transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from starlette.requests import Request
from starlette.responses import Response

from devserver.auth import Identity, JwtVerifier, authenticate
from devserver.config import ServerConfig
from devserver.db import Database, TxSettings
from devserver.errors import (
    JSON_UTF8,
    ApiError,
    invalid_body,
    invalid_preferences,
    invalid_schema,
    unknown_column,
    unknown_table,
    where_clause_required,
)
from devserver.openapi import EXECUTABLE_SQL, PRIVILEGES_SQL, build_openapi
from devserver.params import RESERVED, QueryParams, SelectItem, parse_query
from devserver.payload import check_content_type, parse_payload
from devserver.prefer import (
    Action,
    Preferences,
    applied_header,
    enforces_max_affected,
    parse_prefer,
)
from devserver.query import (
    InsertSpec,
    Statement,
    build_delete,
    build_insert,
    build_select,
    build_update,
    conflict_target,
    ident,
)
from devserver.responses import (
    content_range,
    error_response,
    location_header,
    max_affected,
    mutation_content_range,
    mutation_status,
    read_status,
    single_object,
)
from devserver.rpc_plan import (
    CallSpec,
    allowed_methods,
    build_call,
    find_routine,
    invalid_rpc_method,
    read_only,
)
from devserver.schema_cache import Routine, SchemaCache, SchemaCacheHolder, Table

log = structlog.get_logger(__name__)

SCHEMA_FORBIDDEN = ApiError(
    403,
    None,
    "Access to schema is forbidden",
    hint="Accessing the schema via the Data API is only allowed using a secret API key.",
)
OBJECT_MEDIA = "application/vnd.pgrst.object+json"
Check = Callable[[list[list[Any]]], None]


@dataclass
class Context:
    """What every table request has once the common checks passed."""

    identity: Identity
    cache: SchemaCache
    schema: str
    params: QueryParams
    prefs: Preferences
    singular: bool


class RestApi:
    def __init__(
        self,
        config: ServerConfig,
        holder: SchemaCacheHolder,
        db: Database,
        verifier: JwtVerifier,
    ) -> None:
        self.config = config
        self.holder = holder
        self.db = db
        self.verifier = verifier

    async def root(self, request: Request) -> Response:
        """`GET /`: the OpenAPI document, refused for the anon key (Supabase, 2026)."""
        try:
            identity = self._identity(request)
            cache = await self.holder.current()
            schema = self._schema(request, "accept-profile")
            if identity.key_role == self.config.db_anon_role:
                raise SCHEMA_FORBIDDEN
            statements = [(PRIVILEGES_SQL, [schema]), (EXECUTABLE_SQL, [schema])]
            rows = await self._run(request, identity, schema, statements, read_only=True)
            visible = {r["name"] for r in rows[0]}
            callable_ = {r["name"] for r in rows[1]}
            base = request.url.path if request.url.path.endswith("/") else request.url.path + "/"
            doc = build_openapi(cache, schema, visible, host=request.url.netloc, base_path=base, executable=callable_)
        except ApiError as exc:
            return error_response(exc)
        return Response(orjson.dumps(doc), 200, media_type="application/openapi+json; charset=utf-8")

    async def table(self, request: Request) -> Response:
        """Dispatch `/<table>` by method; every ApiError becomes PostgREST's error response."""
        handlers = {
            "GET": self._get,
            "HEAD": self._get,
            "POST": self._post,
            "PATCH": self._patch,
            "DELETE": self._delete,
        }
        handler = handlers.get(request.method)
        if handler is None:
            return error_response(ApiError(405, "PGRST117", f"Unsupported HTTP method: {request.method}"))
        return await _answered(request, handler(request, request.path_params["table"]))

    async def rpc(self, request: Request) -> Response:
        """`/rpc/<function>`: GET/HEAD (arguments in the query string) and POST (a JSON object);
        OPTIONS answers `Allow`; other methods are 405 PGRST101 (docs/postgrest.md §9)."""
        return await _answered(request, self._rpc(request, request.path_params["function"]))

    # --- common steps --------------------------------------------------------------------

    def _identity(self, request: Request) -> Identity:
        apikey = request.headers.get("apikey") or request.query_params.get("apikey")
        return authenticate(apikey, request.headers.get("authorization"), self.verifier, self.config.db_anon_role)

    def _schema(self, request: Request, header: str) -> str:
        """The request's schema: reads name it in Accept-Profile, writes in Content-Profile (the
        other header is ignored); unexposed → PGRST106 (docs/postgrest.md §7)."""
        schemas = self.config.db_schemas
        wanted = request.headers.get(header)
        if wanted is None:
            return schemas[0]
        if wanted not in schemas:
            raise invalid_schema(wanted, schemas)
        return wanted

    async def _context(self, request: Request, profile_header: str) -> Context:
        identity = self._identity(request)
        cache = await self.holder.current()
        schema = self._schema(request, profile_header)
        params = parse_query(request.query_params.multi_items())
        prefs = parse_prefer(request.headers.getlist("prefer"))
        singular = OBJECT_MEDIA in request.headers.get("accept", "")
        return Context(identity, cache, schema, params, prefs, singular)

    def _table(self, ctx: Context, name: str) -> Table:
        table = ctx.cache.table(ctx.schema, name)
        if table is None:
            raise unknown_table(ctx.schema, name)
        return table

    @staticmethod
    def _check_strict(prefs: Preferences) -> None:
        if prefs.strict and prefs.invalid:
            raise invalid_preferences(prefs.invalid)

    async def _run(
        self,
        request: Request,
        identity: Identity,
        schema: str,
        statements: Sequence[tuple[str, Sequence[object]]],
        *,
        read_only: bool,
        checks: Sequence[Check] = (),
    ) -> list[list[Any]]:
        """Run `statements` in one transaction; `checks` may fail it before COMMIT.

        search_path is the validated schema, then db-extra-search-path, as quoted identifiers
        (PostgREST's `setPgLocals`): never a header's raw text.
        """
        tx = TxSettings(
            role=identity.role,
            claims_json=orjson.dumps(identity.claims).decode(),
            headers_json=orjson.dumps(dict(request.headers)).decode(),
            method=request.method,
            path=request.url.path,
            search_path=", ".join(ident(s) for s in (schema, *self.config.db_extra_search_path)),
            read_only=read_only,
            authenticated=identity.role != self.config.db_anon_role,
        )

        def verify(results: list[list[Any]]) -> None:
            for check in checks:
                check(results)

        return await self.db.transact(tx, statements, verify=verify if checks else None)

    def _respond(
        self,
        ctx: Context,
        status: int,
        headers: dict[str, str],
        body: str | None,
    ) -> Response:
        if body is None:
            return Response(b"", status, headers)
        if ctx.singular:
            body = body[1:-1].strip()  # exactly one element: verified inside the transaction
        if len(self.config.db_schemas) > 1:
            headers["content-profile"] = ctx.schema
        media = OBJECT_MEDIA + "; charset=utf-8" if ctx.singular else JSON_UTF8
        return Response(body.encode(), status, headers, media_type=media)

    # --- methods ---------------------------------------------------------------------------

    async def _get(self, request: Request, name: str) -> Response:
        ctx = await self._context(request, "accept-profile")
        table = self._table(ctx, name)
        self._check_strict(ctx.prefs)
        exact = ctx.prefs.count in ("exact", "estimated", "planned")
        stmt = build_select(table, ctx.params, max_rows=self.config.db_max_rows, exact_count=exact)
        row = (await self._exec(request, ctx, stmt, read_only=True))[0]
        status = read_status(ctx.params.offset, row["page_total"], row["total"])
        headers = {"content-range": content_range(ctx.params.offset, row["page_total"], row["total"])}
        applied = applied_header(ctx.prefs, "read")
        if applied:
            headers["preference-applied"] = applied
        request.state.pgrst_rows = row["page_total"]
        return self._respond(ctx, status, headers, row["body"])

    async def _post(self, request: Request, name: str) -> Response:
        ctx = await self._context(request, "content-profile")
        check_content_type(request.headers.get("content-type"))
        payload = parse_payload(await request.body(), ctx.params.columns)
        request.state.pgrst_ids = payload.ids
        table = self._table(ctx, name)
        _check_columns(table, payload.columns)
        self._check_strict(ctx.prefs)
        spec = InsertSpec(
            columns=payload.columns,
            body_is_array=payload.is_array,
            resolution=ctx.prefs.resolution,
            on_conflict=ctx.params.on_conflict or None,
            missing_default=ctx.prefs.missing == "default",
            representation=ctx.prefs.return_ in ("representation", "headers-only"),
            select=ctx.params.select,
        )
        row = (await self._exec(request, ctx, build_insert(table, spec, payload.text), action="create"))[0]
        upsert = bool(conflict_target(table, spec))
        merge = upsert and spec.resolution == "merge-duplicates"
        headers = self._mutation_headers(ctx, row, "create", resolution_applied=upsert)
        if ctx.prefs.return_ == "headers-only":
            location = location_header(table, row["body"])
            if location:
                headers["location"] = location
        request.state.pgrst_rows = row["page_total"]
        status = 200 if merge and not row["inserted"] else 201
        body = row["body"] if ctx.prefs.return_ == "representation" else None
        return self._respond(ctx, status, headers, body)

    async def _patch(self, request: Request, name: str) -> Response:
        ctx = await self._context(request, "content-profile")
        check_content_type(request.headers.get("content-type"))
        payload = parse_payload(await request.body(), ctx.params.columns)
        table = self._table(ctx, name)
        _check_columns(table, payload.columns)
        self._check_strict(ctx.prefs)
        if payload.columns:  # an empty PATCH runs no UPDATE (build_update), so safeupdate has no say
            self._check_where(ctx, "UPDATE")
        representation = ctx.prefs.return_ == "representation"
        stmt = build_update(table, payload.columns, ctx.params, payload.text, representation)
        return await self._finish_mutation(request, ctx, stmt, representation, "update")

    async def _delete(self, request: Request, name: str) -> Response:
        ctx = await self._context(request, "content-profile")
        table = self._table(ctx, name)
        self._check_strict(ctx.prefs)
        self._check_where(ctx, "DELETE")
        representation = ctx.prefs.return_ == "representation"
        stmt = build_delete(table, ctx.params, representation)
        return await self._finish_mutation(request, ctx, stmt, representation, "delete")

    def _check_where(self, ctx: Context, command: str) -> None:
        """pg-safeupdate, as Supabase loads it for the API roles: no filter → no WHERE → 21000."""
        if self.config.safeupdate and not ctx.params.filters:
            raise where_clause_required(command)

    async def _finish_mutation(
        self, request: Request, ctx: Context, stmt: Statement, representation: bool, action: Action
    ) -> Response:
        row = (await self._exec(request, ctx, stmt, action=action))[0]
        headers = self._mutation_headers(ctx, row, action)
        headers["content-range"] = mutation_content_range(action, row["page_total"], _total(ctx, row))
        request.state.pgrst_rows = row["page_total"]
        status = mutation_status(representation)
        return self._respond(ctx, status, headers, row["body"] if representation else None)

    def _mutation_headers(
        self, ctx: Context, row: Any, action: Action, *, resolution_applied: bool = False
    ) -> dict[str, str]:
        headers = {"content-range": content_range(0, 0, _total(ctx, row))}
        applied = applied_header(ctx.prefs, action, resolution_applied=resolution_applied)
        if applied:
            headers["preference-applied"] = applied
        return headers

    async def _exec(
        self, request: Request, ctx: Context, stmt: Statement, *, read_only: bool = False, action: Action = "read"
    ) -> list[Any]:
        """Run one statement; singular media (PGRST116), then max-affected (PGRST124), checked
        before COMMIT in PostgREST's order (Query.hs `failMutation`)."""
        checks: list[Check] = [single_object] if ctx.singular else []
        if ctx.prefs.max_affected is not None and enforces_max_affected(ctx.prefs, action):
            checks.append(max_affected(ctx.prefs.max_affected))
        results = await self._run(
            request, ctx.identity, ctx.schema, [(stmt.sql, stmt.args)], read_only=read_only, checks=checks
        )
        return results[0]

    async def _rpc(self, request: Request, name: str) -> Response:
        identity = self._identity(request)
        cache = await self.holder.current()
        method = request.method
        if method not in ("GET", "HEAD", "POST", "OPTIONS"):
            raise invalid_rpc_method(method)
        if method == "OPTIONS":
            routine, _, _ = self._rpc_from_query(cache, self._schema(request, "accept-profile"), name,
                                                 request.query_params.multi_items())
            headers = {"allow": allowed_methods(routine), "access-control-allow-origin": "*"}
            return Response(b"", 200, headers)
        reading = method in ("GET", "HEAD")
        schema = self._schema(request, "accept-profile" if reading else "content-profile")
        pairs = request.query_params.multi_items()
        if reading:
            params = parse_query([(k, v) for k, v in pairs if k in RESERVED])
            routine, spec, body = self._rpc_from_query(cache, schema, name, pairs)
        else:
            params = parse_query(pairs)
            check_content_type(request.headers.get("content-type"))
            routine, spec, body = _rpc_from_body(cache, schema, name, await request.body())
        if params.filters or params.order or params.select != (SelectItem("*"),):
            raise ApiError(400, "PGRST127", "Feature not implemented",
                           "select, filters and order on /rpc/ results (the development server takes limit and offset)")
        prefs = parse_prefer(request.headers.getlist("prefer"))
        self._check_strict(prefs)
        spec = CallSpec(spec.keys, spec.whole_body, params.limit, params.offset)
        stmt = build_call(routine, spec, body, max_rows=self.config.db_max_rows)
        rows = await self._run(request, identity, schema, [(stmt.sql, stmt.args)],
                               read_only=read_only(routine, method))
        row = rows[0][0]
        request.state.pgrst_rows = row["page_total"]
        if routine.returns_void:
            return Response(b"", 204)
        rows_out = int(row["page_total"])
        headers = {"content-range": content_range(params.offset, rows_out, None) if routine.returns_set else "0-0/*"}
        ctx = Context(identity, cache, schema, params, prefs, singular=False)
        return self._respond(ctx, 200, headers, row["body"])

    @staticmethod
    def _rpc_from_query(
        cache: SchemaCache, schema: str, name: str, pairs: Sequence[tuple[str, str]]
    ) -> tuple[Routine, CallSpec, str]:
        """GET: every query parameter but the reserved ones is an argument (a variadic one may repeat)."""
        values: dict[str, list[str]] = {}
        for key, value in pairs:
            if key not in RESERVED:
                values.setdefault(key, []).append(value)
        routine = find_routine(cache, schema, name, tuple(values), json_post=False)
        variadic = {p.name for p in routine.params if p.variadic}
        args = {k: (v if k in variadic else v[0]) for k, v in values.items()}
        return routine, CallSpec(tuple(args)), orjson.dumps(args).decode()


async def _answered(request: Request, work: Awaitable[Response]) -> Response:
    """`work`'s response; every ApiError, and any bug, as PostgREST's error envelope."""
    try:
        return await work
    except ApiError as exc:
        return error_response(exc)
    except Exception as exc:  # a bug here must still answer in PostgREST's envelope
        log.exception("unexpected_error", path=request.url.path)
        return error_response(ApiError(500, "PGRSTX00", "Internal server error", str(exc)))


def _rpc_from_body(cache: SchemaCache, schema: str, name: str, raw: bytes) -> tuple[Routine, CallSpec, str]:
    """POST: a JSON object's keys are the arguments (an empty body is `{}`); a function whose one
    parameter is an unnamed json/jsonb takes the whole body."""
    if not raw.strip():
        raw = b"{}"
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid_body("Empty or invalid json") from None
    text = raw.decode("utf-8")
    if isinstance(data, dict):
        routine = find_routine(cache, schema, name, tuple(data), json_post=True)
        return routine, CallSpec(tuple(data), whole_body=routine.single_unnamed_json), text
    json_ones = [r for r in cache.overloads(schema, name) if r.single_unnamed_json]
    if len(json_ones) == 1:
        return json_ones[0], CallSpec((), whole_body=True), text
    raise ApiError(400, "PGRST127", "Feature not implemented",
                   "the development server takes the arguments of /rpc/ calls as one JSON object")


def _check_columns(table: Table, columns: Sequence[str]) -> None:
    for column in columns:
        if column not in table.columns:
            raise unknown_column(column, table.name)


def _total(ctx: Context, row: Any) -> int | None:
    """Mutations count the rows the statement returned (inserted + updated, not ignored)."""
    return int(row["page_total"]) if ctx.prefs.count else None
