"""Query-string parsing: filters, `select`, `order`, `limit`/`offset`, `columns`, `on_conflict`.

Pure functions over the decoded `(name, value)` pairs; errors are PGRST100 (docs/postgrest.md §2.3).

    parse_query([("id", "in.(1,2)"), ("order", "id.desc"), ("limit", "5")])
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from devserver.errors import ApiError, parse_error, range_not_satisfiable

COMPARISONS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
PATTERNS = {"like": "LIKE", "ilike": "ILIKE"}
IS_VALUES = {"null": "NULL", "not_null": "NOT NULL", "true": "TRUE", "false": "FALSE", "unknown": "UNKNOWN"}
RESERVED = frozenset({"select", "order", "limit", "offset", "columns", "on_conflict", "apikey"})


@dataclass(frozen=True)
class Filter:
    """`column=[not.]op.value`; `value` is a tuple for `in`, the IS keyword for `is`."""

    column: str
    op: str
    value: str | tuple[str, ...]
    negate: bool = False


@dataclass(frozen=True)
class OrderTerm:
    column: str
    descending: bool = False
    nulls: str | None = None  # "first" | "last"


@dataclass(frozen=True)
class SelectItem:
    """`*`, `col`, `alias:col` or `col::type`."""

    column: str
    alias: str | None = None
    cast: str | None = None


@dataclass(frozen=True)
class QueryParams:
    select: tuple[SelectItem, ...] = (SelectItem("*"),)
    filters: tuple[Filter, ...] = ()
    order: tuple[OrderTerm, ...] = ()
    limit: int | None = None
    offset: int = 0
    columns: tuple[str, ...] | None = None
    on_conflict: tuple[str, ...] | None = None
    extra: dict[str, str] = field(default_factory=dict)


def parse_query(pairs: Sequence[tuple[str, str]]) -> QueryParams:
    """Parse the query string; anything that is not a reserved name is a filter."""
    values: dict[str, str] = {}
    filters: list[Filter] = []
    for name, value in pairs:
        if name in RESERVED:
            values[name] = value
        elif name in ("or", "and", "not.or", "not.and"):
            raise ApiError(400, "PGRST127", "Feature not implemented", f"'{name}' filters")
        else:
            filters.append(parse_filter(name, value))
    return QueryParams(
        select=parse_select(values["select"]) if "select" in values else (SelectItem("*"),),
        filters=tuple(filters),
        order=parse_order(values["order"]) if "order" in values else (),
        limit=parse_limit(values["limit"]) if "limit" in values else None,
        offset=parse_offset(values["offset"]) if "offset" in values else 0,
        columns=parse_columns(values["columns"]) if "columns" in values else None,
        on_conflict=parse_column_list("on_conflict", values["on_conflict"]) if "on_conflict" in values else None,
    )


def field_name(name: str) -> str:
    """A column name as PostgREST reads it: a NUL ends it (its parser stops there, and
    `escapeIdent` trims at NUL), so `a%00b` names `a` and no NUL ever reaches SQL."""
    return name.partition("\x00")[0]


def parse_filter(column: str, expression: str) -> Filter:
    """`eq.5`, `not.in.(1,2)`, `is.null`, `like.*x*`."""
    negate = expression.startswith("not.")
    rest = expression[4:] if negate else expression
    op, dot, value = rest.partition(".")
    if not dot or op not in (*COMPARISONS, *PATTERNS, "in", "is"):
        raise parse_error(
            f'"failed to parse filter ({expression})" (line 1, column 1)',
            'unexpected "' + expression[:1] + '" expecting "not" or operator (eq, gt, ...)',
        )
    column = field_name(column)
    if op == "in":
        return Filter(column, op, parse_in_list(value, expression), negate)
    if op == "is":
        if value not in IS_VALUES:
            raise parse_error(f'"failed to parse filter ({expression})" (line 1, column 4)')
        return Filter(column, op, IS_VALUES[value], negate)
    if op in PATTERNS:
        return Filter(column, op, value.replace("*", "%"), negate)
    return Filter(column, op, value, negate)


def parse_in_list(value: str, expression: str = "") -> tuple[str, ...]:
    """`(1,2,"a,b")` → ('1', '2', 'a,b'); double quotes protect commas, `\\` escapes."""
    if not (value.startswith("(") and value.endswith(")")):
        raise parse_error(f'"failed to parse filter ({expression or value})" (line 1, column 4)')
    return _split_list(value[1:-1])


def _split_list(body: str) -> tuple[str, ...]:
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = was_quoted = False
    for char in body:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted, was_quoted = not quoted, True
        elif char == "," and not quoted:
            items.append(_item(current, was_quoted))
            current, was_quoted = [], False
        else:
            current.append(char)
    if current or was_quoted or items:
        items.append(_item(current, was_quoted))
    return tuple(items)


def _item(chars: list[str], was_quoted: bool) -> str:
    text = "".join(chars)
    return text if was_quoted else text.strip()


def parse_select(value: str) -> tuple[SelectItem, ...]:
    """`a,b:c,d::text`; embedding (`x(*)`) is not implemented here."""
    items: list[SelectItem] = []
    for raw in _split_list(value):
        if not raw:
            raise parse_error(f'"failed to parse select parameter ({value})" (line 1, column 1)')
        if "(" in raw:
            raise ApiError(400, "PGRST127", "Feature not implemented", "resource embedding")
        alias, colon, rest = raw.partition(":")
        if colon and not rest.startswith(":"):
            name, cast = _split_cast(rest, value)
            items.append(SelectItem(name, alias, cast))
        else:
            name, cast = _split_cast(raw, value)
            items.append(SelectItem(name, None, cast))
    return tuple(items)


def is_cast(cast: str) -> bool:
    """PostgREST's cast grammar (`pIdentifier`): letters, digits, `_`, `$` and spaces, nothing else.

    The cast is pasted into SQL unquoted (`CAST(x AS double precision)`: quoting would break
    `int`, `double precision`), so this grammar is what keeps the request text inside the CAST:
    no quote, parenthesis, comma, semicolon or operator can get through.
    """
    return bool(cast) and all(c.isalpha() or c in _CAST_CHARS for c in cast)


_CAST_CHARS = frozenset("0123456789_$ ")


def _split_cast(text: str, select: str) -> tuple[str, str | None]:
    name, sep, cast = text.partition("::")
    name = field_name(name.strip())
    if not sep:
        return name, None
    stripped = cast.strip()
    if not is_cast(stripped):
        raise _cast_error(select, cast)
    return name, stripped


def _cast_error(select: str, cast: str) -> ApiError:
    """PGRST100 at the first character the cast grammar refuses, as Parsec reports it."""
    bad = next((i for i, c in enumerate(cast) if not (c.isalpha() or c in _CAST_CHARS)), len(cast))
    start = select.find("::" + cast)
    column = start + 3 + bad if start >= 0 else 1
    unexpected = f'unexpected "{cast[bad]}"' if bad < len(cast) else "unexpected end of input"
    return parse_error(f'"failed to parse select parameter ({select})" (line 1, column {column})', unexpected)


def parse_order(value: str) -> tuple[OrderTerm, ...]:
    """`a.desc.nullslast,b` → terms; unknown modifiers are a PGRST100."""
    terms: list[OrderTerm] = []
    for raw in value.split(","):
        name, *mods = raw.strip().split(".")
        descending, nulls = False, None
        for mod in mods:
            if mod in ("asc", "desc"):
                descending = mod == "desc"
            elif mod in ("nullsfirst", "nullslast"):
                nulls = mod[5:]
            else:
                raise parse_error(f'"failed to parse order ({value})" (line 1, column 1)')
        if not name:
            raise parse_error(f'"failed to parse order ({value})" (line 1, column 1)')
        terms.append(OrderTerm(field_name(name), descending, nulls))
    return tuple(terms)


def parse_columns(value: str) -> tuple[str, ...]:
    """`columns="a","b"` (supabase-js quotes every name); empty → PGRST100."""
    return parse_column_list("columns", value)


def parse_column_list(param: str, value: str) -> tuple[str, ...]:
    """`columns=` and `on_conflict=`: one or more names (PostgREST's `pColumns`); an empty list
    or an empty name is PGRST100, never "no columns"."""
    names = _split_list(value) if value.strip() else ()
    if not names or any(not n for n in names):
        raise parse_error(
            f'"failed to parse {param} parameter ({value})" (line 1, column 1)',
            "unexpected end of input expecting field name (* or [a..z0..9_$])",
        )
    return names


# Haskell's `readMaybe :: Maybe Integer`, which PostgREST uses for limit and offset: an optional
# minus, ASCII digits, surrounding blanks. Anything else (`abc`, `²`, `1.5`) reads as nothing.
_INTEGER = re.compile(r"\s*(-?)\s*([0-9]+)\s*")


def read_integer(value: str) -> int | None:
    """The integer `value` spells, or None when it spells none (decimal only)."""
    match = _INTEGER.fullmatch(value)
    if match is None:
        return None
    return -int(match[2]) if match[1] else int(match[2])


def parse_limit(value: str) -> int | None:
    """`limit=`: ignored unless an integer; negative is 416 PGRST103 (src v13.0.8:ApiRequest.hs
    `getRanges`, test RangeSpec "fails if limit is negative")."""
    limit = read_integer(value)
    if limit is not None and limit < 0:
        raise range_not_satisfiable("Limit should be greater than or equal to zero.")
    return limit


def parse_offset(value: str) -> int:
    """`offset=`: ignored unless an integer; negative is a no-op (RangeSpec)."""
    return max(read_integer(value) or 0, 0)
