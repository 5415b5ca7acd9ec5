"""JSON parsing that keeps every number exactly as written.

orjson, our JSON codec, reads an integer beyond 64 bits or a decimal with more digits than a
double holds as a rounded float, and refuses `1e400` outright: values PostgreSQL's `jsonb` and
`numeric` keep exactly. A lead's `dados_extras` may hold such numbers. Rounding them would change
a lead's data in transit; refusing them would stop the capture on one row, again after every
restart, while the slot pins WAL.

`loads` parses with orjson first (the common, fast case). Every number orjson may have changed
comes out of it as a float (an integer beyond 64 bits too), so a result without any float is
exact as it stands, whatever the text held: no scan of the text is needed. Only when the result
holds a float and the text has a literal that could have lost something (16 or more digits or
dots in a row, or a three-digit exponent), or when orjson refused the text, is it parsed again
with the standard library, keeping each number that a Python int or float cannot carry exactly
as an `orjson.Fragment` of its literal, which orjson writes back verbatim: the number reaches the
destination as the source wrote it.

    loads(b'{"x": 18446744073709551617}')["x"]   # Fragment(b'18446744073709551617')
    orjson.dumps(loads(b'{"x": 1e400}'))          # b'{"x":1e400}'
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson

# Where a number could have lost something: a run of 16+ digits or dots (a number with 16+
# significant digits, beyond a double's 15 that always survive, or an integer beyond 64 bits;
# `12345678.123456789` too), or an exponent of three digits. Found without a regular expression
# (a regex scan cost more than the parse): the text is mapped byte for byte, digits and dots to
# "1", e/E to "e", signs to "s", anything else to "0", and searched for those shapes. Such runs
# inside strings only cost the slower, still exact, path.
_SHAPES = bytes(ord("1") if c in "0123456789." else ord("e") if c in "eE" else ord("s") if c in "+-" else ord("0")
                for c in map(chr, range(256)))
_LONG_RUN, _EXPONENT, _SIGNED_EXPONENT = b"1" * 16, b"e111", b"es111"
_INT_RANGE = (-(2**63), 2**64)  # what orjson writes as an integer


def loads(data: bytes | str, *, keep: Callable[[str], Any] = orjson.Fragment) -> Any:
    """Like `orjson.loads`, raising `orjson.JSONDecodeError`, but exact for every number: one a
    Python int or float cannot carry becomes `keep(literal)` (`Decimal` to compare values)."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return _exact(data, keep)  # 1e400, or not JSON at all (then it raises)
    if has_float(value) and may_lose(data):
        return _exact(data, keep)
    return value


def may_lose(data: bytes | str) -> bool:
    """Whether `data` holds a number literal that orjson may have rounded (or a string that looks
    like one: then only the exact path is taken for nothing)."""
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    shapes = raw.translate(_SHAPES)
    return _LONG_RUN in shapes or _EXPONENT in shapes or _SIGNED_EXPONENT in shapes


def has_float(value: Any) -> bool:
    """Whether a parsed JSON value holds a float anywhere (the only way orjson rounds)."""
    kind = type(value)
    if kind is float:
        return True
    if kind is dict:
        items = value.values()
    elif kind is list:
        items = value
    else:
        return False
    for item in items:
        kind = type(item)
        if kind is float or ((kind is dict or kind is list) and has_float(item)):
            return True
    return False


def _exact(data: bytes | str, keep: Callable[[str], Any]) -> Any:
    try:
        return json.loads(data, parse_int=functools.partial(_int, keep=keep),
                          parse_float=functools.partial(_float, keep=keep), parse_constant=_refuse)
    except json.JSONDecodeError as exc:
        raise orjson.JSONDecodeError(exc.msg, exc.doc, exc.pos) from None
    except UnicodeDecodeError as exc:
        raise orjson.JSONDecodeError(f"not UTF-8: {exc.reason}", "", 0) from None


def _int(literal: str, *, keep: Callable[[str], Any]) -> Any:
    try:
        value = int(literal)
    except ValueError:  # over Python's 4,300-digit conversion limit
        return keep(literal)
    return value if _INT_RANGE[0] <= value < _INT_RANGE[1] else keep(literal)


def _float(literal: str, *, keep: Callable[[str], Any]) -> Any:
    value = float(literal)
    if math.isfinite(value) and Decimal(repr(value)) == Decimal(literal):
        return value  # orjson writes it back as the same number
    return keep(literal)


def _refuse(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not JSON", name, 0)
