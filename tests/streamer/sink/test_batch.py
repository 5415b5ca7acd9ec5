"""Planning a batch: decoding, loop filter, last state per lead, mapping and key-set groups."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from schemas.mapping import FieldMapping
from streamer.sections import SinkSettings
from streamer.sink.batch import ConsumedRecord, PlanOptions, build_plan

TOPIC = "tabuladormax.public.leads"


def _event(op: str, lead_id: int, *, ts: int = 1_000, origin: str | None = "tabuladormax",
           toast: tuple[str, ...] = (), **columns: Any) -> bytes:
    image = {"id": lead_id, **columns}
    if origin is not None and op != "d":
        image.setdefault("sync_source", origin)
    value: dict[str, Any] = {
        "op": op,
        "before": image if op == "d" else None,
        "after": None if op == "d" else image,
        "source": {"connector": "postgresql", "db": "tabuladormax", "schema": "public", "table": "leads",
                   "ts_ms": ts, "sync_source": origin},
        "ts_ms": ts + 5,
        "unchanged_toast": list(toast),
    }
    return orjson.dumps(value)


def _records(*values: bytes | None, start: int = 100, partition: int = 0) -> list[ConsumedRecord]:
    return [ConsumedRecord(TOPIC, partition, start + i, b"k", v) for i, v in enumerate(values)]


def test_one_upsert_per_event_of_distinct_leads():
    """Events of distinct leads each become one upsert, with the offsets the plan covers."""
    plan = build_plan(_records(_event("c", 1, name="Ana"), _event("u", 2, name="Bia")))
    assert [u.lead_id for u in plan.upserts] == [1, 2]
    assert plan.upserts[0].row == {"id": 1, "name": "Ana", "sync_source": "tabuladormax"}
    assert (plan.first_offset, plan.last_offset, plan.commit_offset) == (100, 101, 102)
    assert plan.deletes == () and plan.poison == () and plan.skipped == {}


def test_several_events_of_one_lead_collapse_to_the_latest_state():
    """A lead updated three times in a batch is sent once, in its last state."""
    plan = build_plan(_records(_event("c", 7, name="a"), _event("u", 7, name="b"), _event("u", 7, name="c")))
    assert len(plan.upserts) == 1
    assert plan.upserts[0].row["name"] == "c"
    assert plan.upserts[0].offsets == (100, 101, 102)
    assert plan.superseded == 2


def test_delete_after_upsert_wins():
    """An upsert followed by a delete of the same lead leaves only the delete."""
    plan = build_plan(_records(_event("u", 7, name="a"), _event("d", 7)))
    assert plan.upserts == ()
    assert plan.delete_ids() == [7]


def test_upsert_after_delete_wins():
    """A delete followed by a re-insert of the same lead leaves only the upsert."""
    plan = build_plan(_records(_event("d", 7), _event("c", 7, name="again")))
    assert plan.deletes == ()
    assert plan.upserts[0].row["name"] == "again"


def test_records_are_folded_in_offset_order():
    """Records handed over out of order are still folded by offset, so the last offset wins."""
    records = _records(_event("u", 7, name="old"), _event("u", 7, name="new"))
    plan = build_plan(list(reversed(records)))
    assert plan.upserts[0].row["name"] == "new"


def test_an_upsert_older_than_the_state_it_follows_keeps_that_state():
    """An export page read before an update can reach the topic after the update's event: the
    stale read must not win the fold, as the destination's stale-write guard would refuse it."""
    plan = build_plan(_records(
        _event("u", 7, etapa="contato", updated_at="2026-12-03T10:00:00.5+00:00"),
        _event("r", 7, etapa="novo", updated_at="1385-10-27T23:34:04.837402+00:00"),
        _event("u", 8, etapa="a", updated_at="2026-12-03T10:00:00+00:00"),
        _event("u", 8, etapa="b", updated_at="2026-12-03T10:00:00+00:00")))
    rows = {u.lead_id: u.row for u in plan.upserts}
    assert rows[7]["etapa"] == "contato" and rows[7]["updated_at"] == "2026-12-03T10:00:00.5+00:00"
    assert rows[8]["etapa"] == "b"  # the same version: the later event wins, as before
    assert [u.offsets for u in plan.upserts] == [(100, 101), (102, 103)]


def test_deletes_ignored_when_delete_mode_is_ignore():
    """With delete_mode=ignore a delete is counted as skipped and the earlier upsert stands."""
    options = PlanOptions(delete_mode="ignore")
    plan = build_plan(_records(_event("u", 7, name="a"), _event("d", 7), _event("d", 8)), options)
    assert [u.lead_id for u in plan.upserts] == [7]
    assert plan.deletes == ()
    assert plan.skipped == {"delete_ignored": 2}


def test_echo_events_are_skipped_and_counted_by_source():
    """A lead whose only events come from the destination is not written; the skip names the source."""
    plan = build_plan(_records(_event("u", 7, origin="gestao_scouter"), _event("u", 8, origin="supabase"),
                               _event("u", 8, origin="supabase"), _event("u", 9)))
    assert [u.lead_id for u in plan.upserts] == [9]
    assert plan.skipped == {"echo:gestao_scouter": 1, "echo:supabase": 2}


def test_echo_is_read_from_the_row_when_the_envelope_has_no_sync_source():
    """Without `source.sync_source`, the row image's `sync_source` column decides the loop filter."""
    value = orjson.loads(_event("u", 7, origin=None))
    value["after"]["sync_source"] = "gestao_scouter"
    plan = build_plan(_records(orjson.dumps(value)))
    assert plan.upserts == ()
    assert plan.skipped == {"echo:gestao_scouter": 1}


def test_an_echo_after_our_change_sends_the_echo_state():
    """When our change is followed by an echo, the echo's full row is written, stamped as ours."""
    plan = build_plan(_records(_event("u", 7, ts=10, name="ours"),
                               _event("u", 7, ts=20, origin="gestao_scouter", name="ours", celular="9")))
    assert plan.upserts[0].row == {"id": 7, "name": "ours", "celular": "9", "sync_source": "tabuladormax"}
    assert plan.upserts[0].source_ts_ms == 10
    assert plan.skipped == {}


def test_source_ts_is_the_earliest_of_our_events():
    """A collapsed row carries the earliest source commit time of the events folded into it."""
    plan = build_plan(_records(_event("u", 7, ts=300), _event("u", 7, ts=200), _event("u", 7, ts=400)))
    assert plan.upserts[0].source_ts_ms == 200


def test_undecodable_records_become_poison_not_exceptions():
    """Bad JSON, a non-event and an event without an id are reported as poison with a reason."""
    no_id = orjson.loads(_event("u", 7))
    del no_id["after"]["id"]
    plan = build_plan(_records(b"{not json", b'{"op": "x"}', orjson.dumps(no_id), _event("u", 8)))
    assert [p.offset for p in plan.poison] == [100, 101, 102]
    assert plan.poison[0].reason.startswith("not JSON")
    assert plan.poison[1].reason.startswith("not a change event")
    assert "id" in plan.poison[2].reason
    assert [u.lead_id for u in plan.upserts] == [8]
    assert plan.commit_offset == 104


def test_poison_reason_carries_no_column_values():
    """A validation failure's reason names the field, never the lead's data."""
    value = orjson.loads(_event("u", 7, name="Maria Secreta"))
    value["op"] = "zz"
    plan = build_plan(_records(orjson.dumps(value)))
    assert "Maria Secreta" not in plan.poison[0].reason


def test_non_integer_lead_id_is_poison():
    """A lead id that is a string is reported as poison rather than sent."""
    value = orjson.loads(_event("u", 7))
    value["after"]["id"] = "7"
    plan = build_plan(_records(orjson.dumps(value)))
    assert "str" in plan.poison[0].reason


def test_tombstones_are_skipped():
    """A record without a value (Debezium's tombstone) is counted, not poison."""
    plan = build_plan(_records(_event("d", 7), None))
    assert plan.skipped == {"tombstone": 1}
    assert plan.delete_ids() == [7]


def test_unchanged_toast_columns_keep_the_earlier_value_in_the_batch():
    """A later event lacking an unchanged TOAST column inherits it from an earlier event of the batch."""
    plan = build_plan(_records(_event("u", 7, name="a", observacoes="long text"),
                               _event("u", 7, toast=("observacoes",), name="b")))
    assert plan.upserts[0].row["observacoes"] == "long text"
    assert plan.upserts[0].row["name"] == "b"


def test_rows_are_grouped_by_key_set_and_never_null_filled():
    """Rows missing a TOAST column go in their own request, with `columns` equal to their own keys."""
    plan = build_plan(_records(_event("u", 1, name="a", observacoes="x"),
                               _event("u", 2, toast=("observacoes",), name="b"),
                               _event("u", 3, name="c", observacoes="y")))
    requests = plan.requests()
    assert [[u.lead_id for u in r.rows] for r in requests] == [[1, 3], [2]]
    assert requests[0].columns == ("id", "name", "observacoes", "sync_source")
    assert requests[1].columns == ("id", "name", "sync_source")
    for request in requests:
        assert all(set(row) == set(request.columns) for row in request.payload())


def test_requests_hold_at_most_max_rows():
    """120 leads are cut into requests of 50, 50 and 20."""
    plan = build_plan(_records(*(_event("u", i, name="n") for i in range(1, 121))))
    assert [len(r.rows) for r in plan.requests(max_rows=50)] == [50, 50, 20]


def test_mapping_renames_columns_and_stamps_sync_source():
    """The field mapping is applied to outgoing rows and `sync_source` is set to ours."""
    mapping = FieldMapping(field_mappings={"id": "id", "celular": "phone"}, unmapped_columns="drop")
    plan = build_plan(_records(_event("u", 7, celular="9", name="dropped")), PlanOptions(mapping=mapping))
    assert plan.upserts[0].row == {"id": 7, "phone": "9", "sync_source": "tabuladormax"}


def test_mapping_that_drops_the_key_is_refused():
    """Options whose mapping would drop the lead id are rejected up front."""
    with pytest.raises(ValueError, match="key column"):
        PlanOptions(mapping=FieldMapping(field_mappings={"name": "name"}, unmapped_columns="drop"))


def test_renamed_key_column_is_reported_for_deletes():
    """When the mapping renames the id, the plan names the destination key for deletes."""
    plan = build_plan(_records(_event("d", 7)), PlanOptions(mapping=FieldMapping(field_mappings={"id": "lead_id"})))
    assert plan.key_column == "lead_id"


def test_records_from_two_partitions_are_refused():
    """A plan covers one partition; mixing partitions is a caller bug."""
    records = _records(_event("u", 1)) + _records(_event("u", 2), partition=1)
    with pytest.raises(ValueError, match="one partition"):
        build_plan(records)


def test_options_from_settings():
    """Settings carry the loop-filter sources and the delete mode into the plan options."""
    options = PlanOptions.from_settings(SinkSettings(skip_sync_sources=("x",), delete_mode="ignore"))
    assert options.skip_sync_sources == frozenset({"x"})
    assert options.delete_mode == "ignore"
