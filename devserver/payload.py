"""The POST/PATCH body: parsed only as far as PostgREST does (docs/postgrest.md §1.2).

Without `columns=` the key sets are checked (PGRST102) and the first element's keys become the
insert columns; with `columns=` the body is passed through untouched. The bytes themselves are
always handed to PostgreSQL as they came.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from devserver.errors import invalid_body

_WHITESPACE = b" \t\r\n"


@dataclass(frozen=True)
class Payload:
    text: str  # the body as sent (decoded, never re-encoded)
    columns: tuple[str, ...]
    is_array: bool
    ids: list[Any]  # `id` of each row, for the request log


def check_content_type(content_type: str | None) -> None:
    """JSON only (a missing Content-Type is JSON); anything else is PGRST102."""
    if content_type is None:
        return
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime not in ("application/json", ""):
        raise invalid_body(f"Content-Type not acceptable: {mime}")


def parse_payload(body: bytes, columns: tuple[str, ...] | None) -> Payload:
    """Validate and describe the body; `columns` is the parsed `?columns=` or None."""
    text = _decode(body)
    if columns is not None:
        return Payload(text, columns, _looks_like_array(body), _ids_or_empty(body))
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise invalid_body("Empty or invalid json") from None
    if isinstance(data, dict):
        return Payload(text, tuple(data), False, [data["id"]] if "id" in data else [])
    if not isinstance(data, list):
        return Payload("[]", (), True, [])  # a scalar body is silently treated as []
    return Payload(text, same_keys(data), True, [r["id"] for r in data if "id" in r])


def same_keys(rows: list[Any]) -> tuple[str, ...]:
    """The shared key set of an array of objects (set comparison), in element 0's key order."""
    if not rows:
        return ()
    first = rows[0]
    if not isinstance(first, dict):
        raise invalid_body("All object keys must match")
    keys = first.keys()
    for row in rows[1:]:
        if not isinstance(row, dict) or row.keys() != keys:
            raise invalid_body("All object keys must match")
    return tuple(first)


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_body("Empty or invalid json") from None


def _looks_like_array(body: bytes) -> bool:
    return body.lstrip(_WHITESPACE)[:1] != b"{"


def _ids_or_empty(body: bytes) -> list[Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []  # PostgreSQL will report the bad JSON (22P02)
    rows = data if isinstance(data, list) else [data]
    return [r["id"] for r in rows if isinstance(r, dict) and "id" in r]
