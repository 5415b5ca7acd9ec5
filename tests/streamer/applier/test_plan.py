"""The applier's pure steps: events to rows, folding a batch's versions, the SQL text."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.event import ChangeEvent, SourceInfo
from schemas.lead import LEAD_COLUMNS
from schemas.mapping import IDENTITY, FieldMapping
from streamer.applier.plan import Poison, drop_superseded, plan_batch, rounds, to_row, upsert_sql

T1, T2, T3 = "2025-03-01T12:00:00Z", "2025-03-01T12:00:01Z", "2025-03-01T12:00:02Z"


def value(after: dict[str, Any] | None = None, *, op: str = "u", sync_source: str = "gestao_scouter",
          before: dict[str, Any] | None = None) -> bytes:
    source = SourceInfo(connector="webhook", db="gestao_scouter", schema_="public", table="leads", ts_ms=1,
                        sync_source=sync_source)
    return ChangeEvent(op=op, after=after, before=before, source=source).to_bytes()  # type: ignore[arg-type]


def test_an_event_becomes_a_typed_row_of_only_the_columns_it_carries() -> None:
    """Values are normalised by the Lead model; columns the event lacks are not invented."""
    assert to_row(value({"id": 5, "age": "30", "updated_at": T1}), IDENTITY) == {
        "id": 5, "age": 30, "updated_at": T1}


def test_the_inverse_mapping_brings_back_tabuladormax_names() -> None:
    """With celular→phone on the sink, the applier writes `phone` back as `celular`."""
    inverse = FieldMapping(fieldMappings={"celular": "phone"}).inverse()
    assert to_row(value({"id": 5, "phone": "9", "updated_at": T1}), inverse)["celular"] == "9"


@pytest.mark.parametrize(("raw", "reason"), [
    (None, "tombstone"), (b"{not json", "undecodable"), (b'{"op": "u"}', "undecodable"),
    (value(None, op="d", before={"id": 1}), "delete_unsupported"),
    (value({"id": 1, "updated_at": T1}, sync_source="tabuladormax"), "echo"),
    (value({"id": 1, "age": "old"}), "invalid_lead"),
])
def test_unusable_events_are_poison_with_a_reason(raw: bytes | None, reason: str) -> None:
    """Tombstones, garbage, deletes, echoes and invalid leads are never written."""
    with pytest.raises(Poison) as caught:
        to_row(raw, IDENTITY)
    assert caught.value.reason == reason


def test_versions_that_could_never_win_are_dropped_and_the_rest_kept_in_order() -> None:
    """A version not newer than its lead's previous kept one is dropped; every newer one is kept
    whole, in arrival order (no columns of one version carried into another)."""
    rows = [{"id": 1, "name": "a", "cidade": "SP", "updated_at": T2}, {"id": 2, "updated_at": T1},
            {"id": 1, "name": "b", "updated_at": T3}, {"id": 1, "name": "stale", "updated_at": T1},
            {"id": 2, "updated_at": T1}]
    kept, dropped = drop_superseded(rows)
    assert kept == [rows[0], rows[1], rows[2]]
    assert dropped == 2


def test_an_older_versions_column_never_rides_along_under_a_newer_updated_at() -> None:
    """The reviewer's case: v1 (10:00, email) then v3 (12:00, name) stay two rows, written in two
    rounds, so the stored row's guard judges each one under its own updated_at."""
    v1 = {"id": 7, "email": "a", "updated_at": "2025-03-01T10:00:00Z"}
    v3 = {"id": 7, "name": "new", "updated_at": "2025-03-01T12:00:00Z"}
    kept, _ = drop_superseded([v1, v3])
    assert rounds(kept) == [[v1], [v3]]


def test_rounds_touch_each_lead_once_and_keep_each_leads_order() -> None:
    """Round k holds the k-th version of every lead that has one; leads with one version are
    all in the first round."""
    a1, b1, a2, c1, a3, b2 = ({"id": i, "v": v} for i, v in
                              [(1, 1), (2, 1), (1, 2), (3, 1), (1, 3), (2, 2)])
    assert rounds([a1, b1, a2, c1, a3, b2]) == [[a1, b1, c1], [a2, b2], [a3]]
    assert rounds([]) == []


def test_naive_and_aware_versions_compare_without_error() -> None:
    """A naive updated_at is ordered as UTC next to an aware one."""
    kept, dropped = drop_superseded([{"id": 1, "updated_at": "2025-03-01T12:00:00"}, {"id": 1, "updated_at": T2}])
    assert [r["updated_at"] for r in kept] == ["2025-03-01T12:00:00", T2] and dropped == 0


def test_a_batch_plan_keeps_positions_of_what_it_skips() -> None:
    """Skipped positions carry their reason; good rows are planned."""
    plan = plan_batch([value({"id": 1, "updated_at": T2}), b"junk", value({"id": 1, "updated_at": T1})], IDENTITY)
    assert [r["updated_at"] for r in plan.rows] == [T2] and plan.superseded == 1
    assert [(i, p.reason) for i, p in plan.skipped] == [(1, "undecodable")]


def test_the_upsert_guards_on_updated_at_and_merges_over_the_stored_row() -> None:
    """The SQL: one JSON array, laid over the stored row, updating only when newer."""
    sql = upsert_sql()
    assert "jsonb_array_elements($1::jsonb)" in sql and "jsonb_populate_record(cur, i.doc)" in sql
    assert "WHERE t.updated_at IS NULL OR EXCLUDED.updated_at > t.updated_at" in sql
    assert "ON CONFLICT (id) DO UPDATE SET" in sql and '"id" = EXCLUDED."id"' not in sql
    assert all(f'"{c}"' in sql for c in LEAD_COLUMNS) and sql.endswith("RETURNING t.id")


WHOLE = {column: None for column in LEAD_COLUMNS} | {"id": 5, "updated_at": T1}


@pytest.mark.parametrize(("raw", "update_only"), [
    (value({"id": 5, "name": "x", "updated_at": T1}), True),
    (value({"id": 5, "name": "x", "updated_at": T1}, op="c"), False),
    (value(WHOLE), False),
])
def test_only_a_partial_update_is_marked_as_unable_to_create_a_lead(raw: bytes, update_only: bool) -> None:
    """An update carrying some columns may only change a stored lead; an insert, or a version
    carrying the whole row (the seed's trigger sends no type), may also create one."""
    assert plan_batch([raw], IDENTITY).update_only == [update_only]


def test_with_a_drop_mapping_the_whole_row_is_every_mapped_column() -> None:
    """Under `unmappedColumns: drop` Gestão Scouter's row holds only the mapped columns: carrying
    all of them is a whole row."""
    inverse = FieldMapping(fieldMappings={"id": "id", "updated_at": "updated_at", "celular": "phone"},
                           unmappedColumns="drop").inverse()
    whole = value({"id": 5, "updated_at": T1, "phone": "9"})
    partial = value({"id": 6, "updated_at": T1})
    assert plan_batch([whole, partial], inverse).update_only == [False, True]


def test_the_marks_follow_the_rows_that_survive_superseding() -> None:
    """A dropped version takes its mark with it: `update_only` stays aligned with `rows`."""
    plan = plan_batch([value({"id": 1, "updated_at": T2}, op="c"), value({"id": 1, "updated_at": T1}),
                       value({"id": 2, "updated_at": T1}), value({"id": 1, "updated_at": T3})], IDENTITY)
    assert [(r["id"], flag) for r, flag in zip(plan.rows, plan.update_only, strict=True)] == [
        (1, False), (2, True), (1, True)]
