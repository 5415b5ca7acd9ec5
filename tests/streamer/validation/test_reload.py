"""Waiting for the schema cache to show the expected columns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streamer.validation.reload import missing_from, wait_for_columns


def doc(*columns: str) -> dict[str, Any]:
    return {"definitions": {"leads": {"properties": {c: {} for c in columns}}}}


def test_missing_from_names_absent_columns_and_an_absent_table() -> None:
    """Columns not shown are listed; a missing table is listed first."""
    assert missing_from(doc("id"), "leads", ["id", "x"]) == ["x"]
    assert missing_from({"definitions": {}}, "leads", ["id"]) == ["(table leads)", "id"]


async def test_wait_returns_once_the_columns_appear_and_reports_progress() -> None:
    """The third document shows the column; progress was reported for the earlier polls."""
    docs = iter([doc("id"), doc("id"), doc("id", "x")])
    seen: list[list[str]] = []

    async def fetch() -> Mapping[str, Any]:
        return next(docs)

    outcome = await wait_for_columns(fetch, "leads", ["id", "x"], timeout=10, poll=0.001,
                                     progress=lambda s, m: seen.append(m))
    assert outcome.ok and outcome.polls == 3 and seen == [["x"], ["x"]]


async def test_wait_gives_up_at_the_timeout_naming_what_is_missing() -> None:
    """A fake clock passes the deadline; the outcome lists the missing column."""
    ticks = iter([0.0, 5.0, 11.0])

    async def fetch() -> Mapping[str, Any]:
        return doc("id")

    outcome = await wait_for_columns(fetch, "leads", ["x"], timeout=10, poll=0.001, clock=lambda: next(ticks))
    assert not outcome.ok and outcome.missing == ("x",) and outcome.polls == 2


async def test_an_unreadable_document_keeps_polling() -> None:
    """A 503 while the cache loads is not the end of the wait."""
    calls = {"n": 0}

    async def fetch() -> Mapping[str, Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("503 PGRST002")
        return doc("x")

    outcome = await wait_for_columns(fetch, "leads", ["x"], timeout=10, poll=0.001)
    assert outcome.ok and calls["n"] == 2
