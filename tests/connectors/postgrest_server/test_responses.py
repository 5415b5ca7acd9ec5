"""Content-Range, statuses and Location."""

from __future__ import annotations

import pytest

from connectors.postgrest.server.errors import ApiError
from connectors.postgrest.server.responses import content_range, location_header, read_status
from connectors.postgrest.server.schema_cache import Column, Table


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
