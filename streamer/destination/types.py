"""PostgreSQL column types as values, and which source type fits which destination type.

`SqlType.parse("numeric(12,2)")` splits a `format_type` string into its base name, its type
modifiers and whether it is an array. `SqlType.modifiers` is None when they are unknown: the
destination's OpenAPI document gives the base name only (docs/postgrest.md §5), plus `maxLength` for
`character varying(n)` / `character(n)`, so a destination `numeric` seen through OpenAPI may or
may not have a precision.

`compatibility(source, destination)` is the one place that decides whether values of the source
type land in the destination type: None (fine), or a `Verdict` (warning or error, and why).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from streamer.texts import Said, said

Severity = Literal["error", "warning"]

# PostgREST v14.8+ writes int32/int64 as the `format` of integer columns (docs/postgrest.md §5); int32
# covers smallint too, so a smallint destination reads as integer there.
_OPENAPI_ALIASES = {"int16": "smallint", "int32": "integer", "int64": "bigint"}
_INTEGER_RANK = {"smallint": 1, "integer": 2, "bigint": 3}
_INTEGER_DIGITS = {"smallint": 5, "integer": 10, "bigint": 19}
_FLOATS = {"real": 1, "double precision": 2}
_STRINGS = {"text", "character varying", "character"}
_TIMESTAMPS = {"timestamp with time zone", "timestamp without time zone"}
_JSON = {"json", "jsonb"}
_MODIFIERS = re.compile(r"\(([\d,\s]+)\)")
BUILTIN = frozenset({
    *_INTEGER_RANK, *_FLOATS, *_STRINGS, *_TIMESTAMPS, *_JSON, "numeric", "boolean", "date", "uuid",
    "time without time zone", "time with time zone", "interval", "bytea", "inet", "cidr", "money",
})


@dataclass(frozen=True)
class SqlType:
    """A column type: `base` without modifiers, `modifiers` such as (12, 2), `array` for `[]`."""

    base: str
    modifiers: tuple[int, ...] | None = ()
    array: bool = False

    @classmethod
    def parse(cls, text: str) -> SqlType:
        """`character varying(2)` → base `character varying`, modifiers (2,); `text[]` → array."""
        text = text.strip()
        array = text.endswith("[]")
        if array:
            text = text[:-2]
        found = _MODIFIERS.search(text)
        modifiers: tuple[int, ...] = ()
        if found:
            modifiers = tuple(int(part) for part in found.group(1).split(",") if part.strip())
            # `timestamp(3) with time zone`: the modifier sits in the middle of the name.
            text = (text[:found.start()] + text[found.end():]).strip()
        base = " ".join(text.split())
        return cls(_OPENAPI_ALIASES.get(base, base), modifiers, array)

    @classmethod
    def from_openapi(cls, prop: dict[str, object]) -> SqlType:
        """A destination column's type from its OpenAPI property (`format`, `maxLength`)."""
        fmt = prop.get("format")
        parsed = cls.parse(fmt if isinstance(fmt, str) else "text")
        max_length = prop.get("maxLength")
        if isinstance(max_length, int):
            return cls(parsed.base, (max_length,), parsed.array)
        # A numeric's precision or a timestamp's fractional digits never show in OpenAPI.
        unknown = parsed.base == "numeric" or parsed.base in _TIMESTAMPS
        return cls(parsed.base, None if unknown else parsed.modifiers, parsed.array)

    @property
    def element(self) -> SqlType:
        return SqlType(self.base, self.modifiers, False)

    @property
    def builtin(self) -> bool:
        return self.base in BUILTIN

    def __str__(self) -> str:
        mods = f"({','.join(map(str, self.modifiers))})" if self.modifiers else ""
        if mods and self.base in _TIMESTAMPS | {"time without time zone", "time with time zone"}:
            head, _, tail = self.base.partition(" ")
            text = f"{head}{mods} {tail}"
        else:
            text = f"{self.base}{mods}"
        return text + ("[]" if self.array else "")


@dataclass(frozen=True)
class Verdict:
    """Why values of one type may not land in another."""

    severity: Severity
    said: Said

    @property
    def reason(self) -> str:
        return self.said.english


def compatibility(source: SqlType, dest: SqlType) -> Verdict | None:
    """None if every source value lands unchanged in `dest`; else a warning or an error.

        >>> compatibility(SqlType.parse("integer"), SqlType.parse("bigint")) is None
        True
        >>> compatibility(SqlType.parse("bigint"), SqlType.parse("integer")).severity
        'error'
    """
    if source == dest:
        return None
    if source.array != dest.array:
        if dest.base in _JSON or (dest.base == "text" and not dest.array):
            return Verdict("warning", said("type.array_stored_as" if source.array else "type.scalar_stored_as",
                                           dest=str(dest)))
        return Verdict("error", said("type.cannot_write_into", source=str(source), dest=str(dest)))
    verdict = _scalar(source.element, dest.element)
    if verdict is not None and source.array:
        return Verdict(verdict.severity, said("type.array_elements", reason=verdict.said))
    return verdict


def _scalar(source: SqlType, dest: SqlType) -> Verdict | None:
    if source.base == dest.base:
        return _same_base(source, dest)
    for rule in (_integers, _numbers, _strings, _times, _json):
        verdict = rule(source, dest)
        if verdict is not False:
            return verdict
    if dest.base == "text":
        return Verdict("warning", said("type.stored_as_text", source=str(source)))
    return Verdict("error", said("type.values_cannot_write_into", source=str(source), dest=str(dest)))


def _same_base(source: SqlType, dest: SqlType) -> Verdict | None:
    if dest.modifiers is None or not dest.modifiers:
        return None  # unknown (OpenAPI) or unconstrained destination
    if source.base in ("character varying", "character"):
        if source.modifiers and source.modifiers[0] <= dest.modifiers[0]:
            return None
        return Verdict("warning", said("type.longer_refused_by", limit=dest.modifiers[0], dest=str(dest),
                                       source=str(source)))
    if source.base == "numeric":
        return _numeric_fit(source, dest)
    if source.modifiers and source.modifiers[0] > dest.modifiers[0]:
        return Verdict("warning", said("type.less_precision", dest=str(dest), source=str(source)))
    return None


def _numeric_fit(source: SqlType, dest: SqlType) -> Verdict | None:
    assert dest.modifiers  # the caller checked: a numeric(p[,s]) destination
    d_prec, d_scale = dest.modifiers[0], (dest.modifiers[1:] or (0,))[0]
    if not source.modifiers:
        return Verdict("warning", said("type.unconstrained_numeric", dest=str(dest), scale=d_scale))
    s_prec, s_scale = source.modifiers[0], (source.modifiers[1:] or (0,))[0]
    digits, decimals = s_prec - s_scale > d_prec - d_scale, s_scale > d_scale
    pair: dict[str, str] = {"dest": str(dest), "source": str(source)}
    if digits and decimals:
        return Verdict("warning", said("type.numeric_narrower_both", digits=d_prec - d_scale, scale=d_scale, **pair))
    if digits:
        return Verdict("warning", said("type.numeric_narrower_digits", digits=d_prec - d_scale, **pair))
    if decimals:
        return Verdict("warning", said("type.numeric_narrower_decimals", scale=d_scale, **pair))
    return None


Measure = Literal["length", "digits"]


def narrowing(source: SqlType, dest: SqlType) -> Measure | None:
    """What to measure in the source's data to know whether `dest` refuses or rounds its values:
    "length" for a string into `character varying(n)` / `character(n)`, "digits" for a number into
    `numeric(p,s)`; None when the destination's limit is unknown or not a length or precision.
    Called for pairs `compatibility` already warned about."""
    if source.array or dest.array or not dest.modifiers:
        return None
    if source.base in _STRINGS and dest.base in ("character varying", "character"):
        return "length"
    if dest.base == "numeric" and (source.base in _INTEGER_RANK or source.base in _FLOATS
                                   or source.base == "numeric"):
        return "digits"
    return None


def widened(source: SqlType, dest: SqlType) -> str:
    """A destination type holding every value of both `source` and `dest` (for `narrowing` pairs):
    the ALTER that stops the refusals without losing a digit already stored."""
    if dest.base != "numeric":
        if source.base == "text" or not source.modifiers:
            return "text"
        limit = max(source.modifiers[0], dest.modifiers[0] if dest.modifiers else 0)
        return str(SqlType("character varying", (limit,)))
    assert dest.modifiers
    d_int, d_scale = dest.modifiers[0] - (dest.modifiers[1:] or (0,))[0], (dest.modifiers[1:] or (0,))[0]
    if source.base in _INTEGER_RANK:
        s_int, s_scale = _INTEGER_DIGITS[source.base], 0
    elif source.base == "numeric" and source.modifiers:
        s_scale = (source.modifiers[1:] or (0,))[0]
        s_int = source.modifiers[0] - s_scale
    else:
        return "numeric"  # an unconstrained numeric or a float: no precision holds all of them
    integer, scale = max(d_int, s_int), max(d_scale, s_scale)
    return str(SqlType("numeric", (integer + scale, scale)))


def _integers(source: SqlType, dest: SqlType) -> Verdict | None | Literal[False]:
    if source.base not in _INTEGER_RANK:
        return False
    if dest.base in _INTEGER_RANK:
        if _INTEGER_RANK[source.base] <= _INTEGER_RANK[dest.base]:
            return None
        return Verdict("error", said("type.may_overflow", source=str(source), dest=str(dest)))
    if dest.base == "numeric":
        if dest.modifiers is None or not dest.modifiers:
            return None
        room = dest.modifiers[0] - (dest.modifiers[1:] or (0,))[0]
        if room >= _INTEGER_DIGITS[source.base]:
            return None
        return Verdict("warning", said("type.integer_digits", dest=str(dest), room=room, source=str(source)))
    if dest.base in _FLOATS:
        exact = dest.base == "double precision" and source.base != "bigint"
        return None if exact else Verdict("warning", said("type.not_exact", dest=str(dest), source=str(source)))
    return False


def _numbers(source: SqlType, dest: SqlType) -> Verdict | None | Literal[False]:
    if source.base not in _FLOATS and source.base != "numeric":
        return False
    if dest.base in _INTEGER_RANK:
        return Verdict("error", said("type.decimals_refused", source=str(source), dest=str(dest)))
    if dest.base == "numeric":
        if not dest.modifiers:
            return None
        return Verdict("warning", said("type.may_round", dest=str(dest), source=str(source)))
    if dest.base in _FLOATS:
        widening = source.base in _FLOATS and _FLOATS[source.base] <= _FLOATS[dest.base]
        return None if widening else Verdict("warning", said("type.not_exact", dest=str(dest), source=str(source)))
    return False


def _strings(source: SqlType, dest: SqlType) -> Verdict | None | Literal[False]:
    if source.base not in _STRINGS or dest.base not in _STRINGS:
        return False
    if dest.base == "text" or (dest.modifiers is not None and not dest.modifiers):
        return None
    if dest.modifiers is not None and source.modifiers and source.modifiers[0] <= dest.modifiers[0]:
        return None
    limit = dest.modifiers[0] if dest.modifiers else "n"
    return Verdict("warning", said("type.string_longer_refused", source=str(source), limit=limit, dest=str(dest)))


def _times(source: SqlType, dest: SqlType) -> Verdict | None | Literal[False]:
    if {source.base, dest.base} == _TIMESTAMPS:
        if dest.base == "timestamp without time zone":
            return Verdict("warning", said("type.zone_dropped"))
        return Verdict("warning", said("type.zone_assumed"))
    if source.base == "date" and dest.base in _TIMESTAMPS:
        return Verdict("warning", said("type.dates_midnight", dest=str(dest)))
    if source.base in _TIMESTAMPS and dest.base == "date":
        return Verdict("warning", said("type.time_dropped"))
    return False


def _json(source: SqlType, dest: SqlType) -> Verdict | None | Literal[False]:
    if source.base in _JSON and dest.base in _JSON:
        return None
    if dest.base in _JSON:
        return Verdict("warning", said("type.stored_as_json", source=str(source)))
    return False
