"""`/rpc/<function>`: which function a call means, and the SQL that calls it (pure; docs/postgrest.md §9).

Choosing the function (PostgREST's rule): among the overloads of that name in the request's
schema, one matches when every argument it requires is given and every given argument is one of
its parameters; a function whose one parameter is an unnamed json/jsonb matches a JSON object
body when no named overload does. None: 404 PGRST202 (message, details and hint as PostgREST
words them); several: 300 PGRST203.

The call: the arguments travel as one `json` parameter, unpacked by `json_to_record` with the
parameters' types (named notation, so the defaults of arguments not given apply), the function
in a lateral FROM item; one row comes back with `page_total` and `body` (JSON text) like the
table statements (`devserver/query.py`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from devserver.errors import ApiError
from devserver.query import Statement, ident
from devserver.schema_cache import Routine, SchemaCache

NAME_HINT_SCORE = 0.75  # PostgREST: function-name suggestions need this similarity
PARAMS_HINT_SCORE = 0.33  # … parameter-list suggestions this much


def invalid_rpc_method(method: str) -> ApiError:
    """PGRST101: `/rpc/` takes GET, HEAD and POST only."""
    return ApiError(405, "PGRST101", f"Cannot use the {method} method on RPC")


def no_function(cache: SchemaCache, schema: str, name: str, keys: Collection[str], *, json_post: bool) -> ApiError:
    """PGRST202 (404): no overload takes these arguments. `keys` are listed sorted; a POST with a
    JSON body also searched for a single unnamed json/jsonb parameter, and its details say so."""
    func = f"{schema}.{name}"
    listed = ", ".join(sorted(keys))
    message_args = f"({listed})" if keys else " without parameters"
    searched = (f" with parameter{'s' if len(keys) > 1 else ''} {listed}") if keys else " without parameters"
    if json_post:
        searched += " or with a single unnamed json/jsonb parameter"
    return ApiError(
        404,
        "PGRST202",
        f"Could not find the function {func}{message_args} in the schema cache",
        f"Searched for the function {func}{searched}, but no matches were found in the schema cache.",
        _hint(cache, schema, name, keys),
    )


def ambiguous_function(routines: Sequence[Routine]) -> ApiError:
    """PGRST203 (300): several overloads take these arguments."""
    listed = ", ".join(
        f"{r.schema}.{r.name}(" + ", ".join(f"{p.name} => {p.data_type}" for p in r.params) + ")" for r in routines
    )
    return ApiError(
        300,
        "PGRST203",
        f"Could not choose the best candidate function between: {listed}",
        hint="Try renaming the parameters or the function itself in the database "
        "so function overloading can be resolved",
    )


def _hint(cache: SchemaCache, schema: str, name: str, keys: Collection[str]) -> str | None:
    """"Perhaps you meant…": the closest function name when none has this name, else the closest
    overload's parameter list (PostgREST uses a fuzzy set; `similarity` approximates it)."""
    prefix = f"Perhaps you meant to call the function {schema}."
    overloads = cache.overloads(schema, name)
    if not overloads:
        names = [r.name for r in cache.routines_in(schema)]
        best = _closest(name, names, NAME_HINT_SCORE)
        return prefix + best if best else None
    lists = [_param_list([p.name for p in r.params]) for r in overloads]
    best = _closest(_param_list(keys), lists, PARAMS_HINT_SCORE)
    return prefix + name + best if best else None


def _param_list(names: Collection[str]) -> str:
    return "(" + ", ".join(sorted(names)) + ")"


def _closest(wanted: str, candidates: Sequence[str], minimum: float) -> str | None:
    scored = [(similarity(wanted, c), c) for c in candidates if c != wanted]
    scored = [(s, c) for s, c in scored if s >= minimum]
    return max(scored, key=lambda sc: sc[0])[1] if scored else None


def _grams(text: str) -> dict[str, int]:
    padded = f"-{text.lower()}-"
    counts: dict[str, int] = {}
    for size in (2, 3):
        for i in range(len(padded) - size + 1):
            gram = padded[i : i + size]
            counts[gram] = counts.get(gram, 0) + 1
    return counts


def similarity(a: str, b: str) -> float:
    """The cosine similarity of the two strings' character bigrams and trigrams (0 to 1)."""
    ga, gb = _grams(a), _grams(b)
    dot = sum(n * gb.get(g, 0) for g, n in ga.items())
    norm = (sum(n * n for n in ga.values()) * sum(n * n for n in gb.values())) ** 0.5
    return dot / norm if norm else 0.0


def find_routine(
    cache: SchemaCache, schema: str, name: str, keys: Collection[str], *, json_post: bool
) -> Routine:
    """The one overload these argument names call (see the module docstring)."""
    given = set(keys)
    named: list[Routine] = []
    single_json: list[Routine] = []
    for routine in cache.overloads(schema, name):
        if routine.single_unnamed_json:
            single_json.append(routine)
            continue
        required = {p.name for p in routine.params if p.required}
        if required <= given <= {p.name for p in routine.params}:
            named.append(routine)
    candidates = named or (single_json if json_post else [])
    if not candidates:
        raise no_function(cache, schema, name, keys, json_post=json_post)
    if len(candidates) > 1:
        raise ambiguous_function(candidates)
    return candidates[0]


@dataclass(frozen=True)
class CallSpec:
    """How to call: the arguments given (by name), or the whole body as the one json argument."""

    keys: tuple[str, ...]
    whole_body: bool = False
    limit: int | None = None
    offset: int = 0


def allowed_methods(routine: Routine) -> str:
    """OPTIONS' `Allow`: a VOLATILE function is POST only (GET would run it read-only)."""
    return "OPTIONS,POST" if routine.volatility == "v" else "OPTIONS,GET,HEAD,POST"


def read_only(routine: Routine, method: str) -> bool:
    """GET and HEAD always read only; POST read-write only for VOLATILE functions (docs/postgrest.md §9)."""
    return method in ("GET", "HEAD") or routine.volatility != "v"


def build_call(routine: Routine, spec: CallSpec, body: str, *, max_rows: int) -> Statement:
    """One row: `page_total` (rows returned; 1 for a single value) and `body` (JSON text; NULL for void)."""
    call, args = _call(routine, spec, body)
    if routine.returns_set:
        limit = min(spec.limit, max_rows) if spec.limit is not None else max_rows
        value = "_pgrst_call" if routine.returns_composite else "_pgrst_call.pgrst_scalar"
        columns = "" if routine.returns_composite else "(pgrst_scalar)"
        page = f"SELECT {value} AS v FROM {call} _pgrst_call{columns} LIMIT {limit} OFFSET {spec.offset}"
        sql = (
            "SELECT pg_catalog.count(*) AS page_total, coalesce(json_agg(_pgrst_t.v), '[]')::text AS body "
            f"FROM ({page}) _pgrst_t"
        )
    elif routine.returns_void:
        sql = f"SELECT 0::bigint AS page_total, NULL::text AS body FROM {call} _pgrst_call"
    elif routine.returns_composite:
        sql = f"SELECT 1::bigint AS page_total, to_json(_pgrst_call)::text AS body FROM {call} _pgrst_call"
    else:
        sql = (
            "SELECT 1::bigint AS page_total, coalesce(to_json(_pgrst_call.pgrst_scalar)::text, 'null') AS body "
            f"FROM {call} _pgrst_call(pgrst_scalar)"
        )
    return Statement(sql, args)


def _call(routine: Routine, spec: CallSpec, body: str) -> tuple[str, tuple[object, ...]]:
    """The FROM items that call the function, and their parameters."""
    function = f"{ident(routine.schema)}.{ident(routine.name)}"
    if spec.whole_body:
        return f"{function}($1::{routine.params[0].sql_type})", (body,)
    params = [p for p in routine.params if p.name in spec.keys]
    if not params:
        return f"{function}()", ()
    columns = ", ".join(f"{ident(p.name)} {p.sql_type}" for p in params)
    named = ", ".join(
        f"{'VARIADIC ' if p.variadic else ''}{ident(p.name)} := _pgrst_args.{ident(p.name)}" for p in params
    )
    return f"json_to_record($1::json) AS _pgrst_args({columns}), LATERAL {function}({named})", (body,)
