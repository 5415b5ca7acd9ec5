"""PostgreSQL text output → JSON-friendly Python values, chosen by type OID.

pgoutput sends each column as its type's text output (format 't'), so the values depend on
the decoding session's settings: ``slot.py`` pins ``DateStyle=ISO`` and ``TimeZone=UTC``,
which makes dates and timestamps ISO 8601 already (PostgreSQL manual 8.5.2 "Date/Time
Output"). Choices, and why:

- numeric stays a ``str``: JSON numbers lose precision in most consumers; "NaN" too.
- float4/float8 become ``float``, but NaN and ±Infinity stay strings (JSON has no such numbers).
- timestamptz becomes ISO 8601 in UTC (``2024-01-31T12:00:00+00:00``); timestamp without zone
  gets no offset. Values Python cannot represent (infinity, BC, year > 9999) stay as sent.
- json/jsonb are parsed; arrays become (nested) lists of converted elements.
- Every other type (text, uuid, enum, interval, bytea as ``\\x..`` hex, ...) stays a ``str``.

    >>> from_text(INT8, "42"), from_text(BOOL, "t"), from_text(TEXT_ARRAY, '{a,"b c",NULL}')
    (42, True, ['a', 'b c', None])
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, TypeAlias

from schemas.json_exact import loads as loads_exact

JsonValue: TypeAlias = Any  # None | bool | int | float | str | list[...] | dict[str, ...]

# Built-in type OIDs (src/include/catalog/pg_type.dat).
BOOL: Final = 16
BYTEA: Final = 17
CHAR: Final = 18
NAME: Final = 19
INT8: Final = 20
INT2: Final = 21
INT4: Final = 23
TEXT: Final = 25
OID: Final = 26
JSON: Final = 114
FLOAT4: Final = 700
FLOAT8: Final = 701
BPCHAR: Final = 1042
VARCHAR: Final = 1043
DATE: Final = 1082
TIME: Final = 1083
TIMESTAMP: Final = 1114
TIMESTAMPTZ: Final = 1184
NUMERIC: Final = 1700
UUID: Final = 2950
JSONB: Final = 3802
TEXT_ARRAY: Final = 1009


def _bool(text: str) -> bool:
    return text == "t"


def _float(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else text


def _json(text: str) -> JsonValue:
    return loads_exact(text)


def _timestamp(text: str) -> str:
    # DateStyle=ISO prints "2024-01-31 12:00:00.5"; Python 3.11 parses that form.
    try:
        return datetime.fromisoformat(text).isoformat()
    except ValueError:
        return text  # infinity, -infinity, "... BC", years past 9999


def _timestamptz(text: str) -> str:
    # "2024-01-31 12:00:00+00" (offset may be +HH, +HH:MM or +HH:MM:SS), normalised to UTC.
    if text.endswith("+00") and len(text) >= 22 and text[10] == " " and text[4] == "-":
        # Fast path for TimeZone=UTC output, giving exactly what isoformat() would.
        body, _, fraction = text[:-3].partition(".")
        if fraction:
            return f"{body[:10]}T{body[11:]}.{fraction.ljust(6, '0')}+00:00"
        return f"{body[:10]}T{body[11:]}+00:00"
    try:
        return datetime.fromisoformat(text).astimezone(UTC).isoformat()
    except ValueError:
        return text


def _same(text: str) -> str:
    return text


_SCALARS: dict[int, Callable[[str], JsonValue]] = {
    BOOL: _bool,
    INT2: int,
    INT4: int,
    INT8: int,
    OID: int,
    FLOAT4: _float,
    FLOAT8: _float,
    NUMERIC: _same,
    JSON: _json,
    JSONB: _json,
    TIMESTAMP: _timestamp,
    TIMESTAMPTZ: _timestamptz,
    DATE: _same,  # already YYYY-MM-DD under DateStyle=ISO
}

# Array type OID → element type OID, for the element types we convert.
ARRAY_ELEMENTS: Final[dict[int, int]] = {
    1000: BOOL,
    1001: BYTEA,
    1002: CHAR,
    1003: NAME,
    1005: INT2,
    1007: INT4,
    1009: TEXT,
    1014: BPCHAR,
    1015: VARCHAR,
    1016: INT8,
    1021: FLOAT4,
    1022: FLOAT8,
    1028: OID,
    1115: TIMESTAMP,
    1182: DATE,
    1185: TIMESTAMPTZ,
    1231: NUMERIC,
    199: JSON,
    2951: UUID,
    3807: JSONB,
}


def from_text(type_oid: int, text: str | None) -> JsonValue:
    """Convert one column's text output to a JSON-friendly value; unknown types stay str."""
    return None if text is None else converter_for(type_oid)(text)


@functools.lru_cache(maxsize=512)
def converter_for(type_oid: int) -> Callable[[str], JsonValue]:
    """The function that converts a non-NULL text value of ``type_oid``."""
    element = ARRAY_ELEMENTS.get(type_oid)
    if element is None:
        return _SCALARS.get(type_oid, _same)
    convert = _SCALARS.get(element, _same)
    if convert is _same:  # text, varchar, numeric...: the parsed elements as they are
        return parse_array
    return lambda text: _map_nested(parse_array(text), convert)


def _map_nested(items: list[Any], convert: Callable[[str], JsonValue]) -> list[JsonValue]:
    return [
        _map_nested(item, convert) if isinstance(item, list) else None if item is None else convert(item)
        for item in items
    ]


def parse_array(text: str) -> list[Any]:
    """Parse an array literal (``{a,"b c",NULL}``, nested for more dimensions) into lists of
    str/None, per the manual's 8.15.6 "Array Input and Output Syntax"."""
    if text.startswith("["):  # explicit bounds, e.g. "[0:1]={1,2}": drop them
        text = text[text.index("=") + 1 :]
    if not text.startswith("{"):
        raise ValueError(f"not an array literal: {text[:40]!r}")
    if text.endswith("}") and '"' not in text and "\\" not in text and "{" not in text[1:]:
        # Fast path: one dimension, nothing quoted or escaped.
        inner = text[1:-1]
        if "}" in inner:
            raise ValueError(f"malformed array literal: {text[:40]!r}")
        return [None if item.upper() == "NULL" else item for item in inner.split(",")] if inner else []
    try:
        items, pos = _parse_level(text, 1)
    except IndexError:
        raise ValueError(f"unterminated array literal: {text[:40]!r}") from None
    if pos != len(text):
        raise ValueError(f"trailing characters after array literal: {text[pos : pos + 20]!r}")
    return items


def _parse_level(text: str, pos: int) -> tuple[list[Any], int]:
    """Parse elements after an opening brace; return them and the position after '}'."""
    items: list[Any] = []
    n = len(text)
    if pos < n and text[pos] == "}":
        return items, pos + 1
    while pos < n:
        char = text[pos]
        if char == "{":
            sub, pos = _parse_level(text, pos + 1)
            items.append(sub)
        elif char == '"':
            buf: list[str] = []
            pos += 1
            while text[pos] != '"':
                if text[pos] == "\\":
                    pos += 1
                buf.append(text[pos])
                pos += 1
            items.append("".join(buf))
            pos += 1
        else:
            end = pos
            while text[end] not in ",}":
                end += 1
            raw = text[pos:end].strip()
            # An unquoted NULL (any case) is SQL NULL; a quoted "NULL" is the string.
            items.append(None if raw.upper() == "NULL" else raw)
            pos = end
        if text[pos] == ",":
            pos += 1
        elif text[pos] == "}":
            return items, pos + 1
        else:
            raise ValueError(f"unexpected {text[pos]!r} at {pos} in array literal")
    raise ValueError("unterminated array literal")


class RowConverter:
    """``convert_row`` for one relation's columns, compiled once (per Relation message): a row
    is copied in one C-level pass and only the columns whose type needs converting are visited
    (on a lead, 20 of 49; text, varchar, numeric and date stay as sent).

        convert = RowConverter([("id", INT8), ("name", TEXT)])
        convert({"id": "7", "name": "Ana"}) == {"id": 7, "name": "Ana"}
    """

    __slots__ = ("_converters",)

    def __init__(self, columns: Iterable[tuple[str, int]]) -> None:
        pairs = [(name, converter_for(type_oid)) for name, type_oid in columns]
        self._converters = tuple((name, convert) for name, convert in pairs if convert is not _same)

    def __call__(self, values: Mapping[str, str | bytes | None]) -> dict[str, JsonValue]:
        """Convert a row of text values; refuses binary ones as ``convert_row`` does."""
        out: dict[str, JsonValue] = dict(values)
        if bytes in set(map(type, out.values())):
            name = next(name for name, value in out.items() if type(value) is bytes)
            raise ValueError(f"column {name!r} arrived in binary format; read the slot as text")
        for name, convert in self._converters:
            value = out.get(name)
            if value is not None:
                out[name] = convert(value)
        return out


def convert_row(values: Mapping[str, str | bytes | None], type_oids: Mapping[str, int]) -> dict[str, JsonValue]:
    """Convert a row of text values by each column's type OID (``Relation.columns``).

    Binary ('b') values are refused: the slot is read without the 'binary' option."""
    out: dict[str, JsonValue] = {}
    for name, value in values.items():
        if value is None:
            out[name] = None
        elif isinstance(value, bytes):
            raise ValueError(f"column {name!r} arrived in binary format; read the slot as text")
        else:
            out[name] = converter_for(type_oids.get(name, TEXT))(value)
    return out
