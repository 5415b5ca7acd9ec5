"""Preflight rules, checked on an in-process fake connection (no server needed)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.postgres import slot as pgslot
from connectors.postgres.errors import PermissionDenied, SetupError


class FakeConn:
    """Answers preflight's single query with a fixed row."""

    def __init__(self, **row: Any) -> None:
        self.row = {"wal_level": "logical", "encoding": "UTF8", "max_slots": 10, "rolsuper": False} | row

    async def fetchrow(self, query: str, *args: Any) -> dict[str, Any]:
        return self.row


@pytest.mark.parametrize(
    ("row", "error", "match"),
    [
        ({"wal_level": "replica", "rolreplication": True}, SetupError, "wal_level=logical"),
        ({"max_slots": 0, "rolreplication": True}, SetupError, "max_replication_slots"),
        ({"encoding": "LATIN1", "rolreplication": True}, SetupError, "UTF8"),
        ({"rolreplication": False}, PermissionDenied, "REPLICATION"),
    ],
)
async def test_preflight_rules(row: dict[str, Any], error: type[Exception], match: str):
    """Each unmet prerequisite raises its own clear error."""
    with pytest.raises(error, match=match):
        await pgslot.preflight(FakeConn(**row))  # type: ignore[arg-type]
