"""Content-Range, statuses and Location."""

from __future__ import annotations

import pytest

from devserver.errors import ApiError
from devserver.responses import (
    content_range,
    location_header,
    max_affected,
    mutation_content_range,
    read_status,
)
from devserver.schema_cache import Column, Table


def test_content_range_shapes() -> None:
    """`from-to/total`, `*` when uncounted, `*/N` when empty."""
    assert content_range(2, 3, 10) == "2-4/10"
    assert content_range(0, 1, None) == "0-0/*"
    assert content_range(0, 0, 5) == "*/5"


def test_read_status() -> None:
    """206 for a partial counted page, 200 otherwise, 416 past the end."""
    assert read_status(0, 3, 10) == 206
    assert read_status(0, 10, 10) == 200
    assert read_status(0, 3, None) == 200
    with pytest.raises(ApiError) as caught:
        read_status(20, 0, 10)
    assert caught.value.code == "PGRST103"


def test_location_needs_one_row_and_a_pk() -> None:
    """headers-only: Location only for exactly one row of a table with a PK."""
    table = Table("public", "t", "r", {"id": Column("id", "bigint", "bigint", False)}, ("id",))
    assert location_header(table, '[{"id": 3}]') == "/t?id=eq.3"
    assert location_header(table, '[{"id": 3}, {"id": 4}]') is None


def test_delete_content_range_never_shows_a_range() -> None:
    """DELETE: `*/N` or `*/*`; PATCH: `0-(n-1)/…`."""
    assert mutation_content_range("delete", 2, None) == "*/*"
    assert mutation_content_range("delete", 2, 2) == "*/2"
    assert mutation_content_range("update", 2, None) == "0-1/*"
    assert mutation_content_range("update", 0, 0) == "*/0"


def test_max_affected_fails_only_above_the_limit() -> None:
    """PGRST124 (400) with the affected count when more rows than the limit were touched."""
    check = max_affected(2)
    check([[{"page_total": 2}]])
    with pytest.raises(ApiError) as caught:
        check([[{"page_total": 3}]])
    error = caught.value
    assert (error.status, error.code, error.details) == (400, "PGRST124", "The query affects 3 rows")
