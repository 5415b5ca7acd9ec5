"""A version read before a delete does not bring the lead back (batch rule 6, sink/deleted.py)."""

from __future__ import annotations

import pytest

from streamer.sink.batch import REASON_PREDATES_DELETE, PlanOptions, build_plan
from streamer.sink.deleted import RecentDeletes
from tests.streamer.sink.test_batch import _event, _records

T1 = "2026-11-29T10:00:00+00:00"
T2 = "2026-11-29T10:05:00.250000+00:00"


def test_a_snapshot_read_produced_after_the_delete_is_skipped_in_a_later_batch():
    """d (of the version at T1) lands, then an export's op=r of that same version arrives: skipped."""
    deleted = RecentDeletes()
    first = build_plan(_records(_event("c", 7, updated_at=T1, name="a"), _event("d", 7, updated_at=T1)),
                       deleted=deleted)
    assert first.delete_ids() == [7]
    late = build_plan(_records(_event("r", 7, updated_at=T1, name="a"), start=200), deleted=deleted)
    assert late.upserts == () and late.deletes == ()
    assert late.skipped == {REASON_PREDATES_DELETE: 1}
    assert late.commit_offset == 201  # skipped, yet covered by the commit


def test_within_one_batch_the_delete_stands_against_an_older_read():
    """d then a stale r in the same batch: the delete is what the plan sends."""
    plan = build_plan(_records(_event("d", 7, updated_at=T2), _event("r", 7, updated_at=T1)),
                      deleted=RecentDeletes())
    assert plan.delete_ids() == [7] and plan.upserts == ()
    assert plan.skipped == {REASON_PREDATES_DELETE: 1}


def test_a_lead_recreated_with_a_newer_version_passes():
    """The same id inserted again after the delete has a newer updated_at and is written."""
    deleted = RecentDeletes()
    build_plan(_records(_event("d", 7, updated_at=T1)), deleted=deleted)
    plan = build_plan(_records(_event("c", 7, updated_at=T2, name="again"), start=200), deleted=deleted)
    assert [u.row["name"] for u in plan.upserts] == ["again"]
    assert plan.skipped == {}


def test_timestamps_compare_as_instants_whatever_their_spelling():
    """pgoutput text and row_to_json spell timestamps differently; a later instant in another
    offset is still newer, and the same instant is still not."""
    deleted = RecentDeletes()
    deleted.record(7, {"updated_at": "2026-11-29 10:00:00+00"})
    assert deleted.predates_delete(7, {"updated_at": "2026-11-29T07:00:00-03:00"})  # the same instant
    assert not deleted.predates_delete(7, {"updated_at": "2026-11-29T07:00:00.000001-03:00"})
    assert not deleted.predates_delete(8, {"updated_at": "2026-11-29T07:00:00-03:00"})  # never deleted


@pytest.mark.parametrize("before", [None, {}, {"updated_at": None}, {"updated_at": "not a time"}])
def test_a_delete_without_a_readable_version_remembers_nothing(before):
    """Without the removed version's updated_at nothing can be compared: later upserts pass."""
    deleted = RecentDeletes()
    deleted.record(7, before)
    assert len(deleted) == 0
    assert not deleted.predates_delete(7, {"updated_at": T1})


def test_an_upsert_without_updated_at_passes():
    deleted = RecentDeletes()
    deleted.record(7, {"updated_at": T2})
    assert not deleted.predates_delete(7, {"name": "no version"})


def test_memory_is_bounded_and_forgets_the_oldest_delete_first():
    deleted = RecentDeletes(capacity=2)
    for lead_id in (1, 2, 3):
        deleted.record(lead_id, {"updated_at": T2})
    assert len(deleted) == 2
    assert not deleted.predates_delete(1, {"updated_at": T1})
    assert deleted.predates_delete(3, {"updated_at": T1})


def test_deletes_ignored_by_configuration_are_not_remembered():
    """delete_mode=ignore keeps the lead at the destination, so its later versions must land."""
    deleted = RecentDeletes()
    build_plan(_records(_event("d", 7, updated_at=T2)), PlanOptions(delete_mode="ignore"), deleted)
    plan = build_plan(_records(_event("u", 7, updated_at=T1), start=200), deleted=deleted)
    assert len(plan.upserts) == 1


def test_without_the_memory_the_plan_is_as_before():
    """build_plan's callers that pass no RecentDeletes (tools, tests) keep the plain fold."""
    plan = build_plan(_records(_event("d", 7, updated_at=T2)))
    late = build_plan(_records(_event("r", 7, updated_at=T1), start=200))
    assert plan.delete_ids() == [7] and len(late.upserts) == 1
