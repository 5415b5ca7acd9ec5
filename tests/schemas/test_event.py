"""The change event envelope: validation, Debezium-compatible JSON, Kafka key and headers."""

from __future__ import annotations

import orjson
import pydantic
import pytest

from schemas.event import ChangeEvent, SourceInfo, header


def _source(**overrides: object) -> SourceInfo:
    fields: dict[str, object] = {
        "connector": "postgresql",
        "db": "tabuladormax",
        "schema": "public",
        "table": "leads",
        "lsn": 22190848,
        "txId": 726,
        "ts_ms": 1_706_702_400_000,
        "sync_source": "tabuladormax",
    }
    fields.update(overrides)
    return SourceInfo.model_validate(fields)


def _update(**overrides: object) -> ChangeEvent:
    fields: dict[str, object] = {
        "op": "u",
        "before": None,
        "after": {"id": 42, "name": "Ana", "tags": ["a"], "meta": {"k": 1}},
        "source": _source(),
        "ts_ms": 1_706_702_400_123,
    }
    fields.update(overrides)
    return ChangeEvent.model_validate(fields)


def test_json_uses_debezium_field_names():
    """The JSON value has Debezium's envelope and source names (schema, txId, ts_ms)."""
    doc = orjson.loads(_update().to_bytes())
    assert set(doc) == {"before", "after", "op", "source", "ts_ms", "unchanged_toast"}
    assert doc["source"]["schema"] == "public" and doc["source"]["txId"] == 726
    assert doc["source"]["ts_ms"] == 1_706_702_400_000 and doc["source"]["snapshot"] is False
    assert "schema_" not in doc["source"] and "tx_id" not in doc["source"]


def test_round_trip_through_bytes():
    """from_bytes(to_bytes(e)) gives back an equal event."""
    event = _update(unchanged_toast=["notes"])
    assert ChangeEvent.from_bytes(event.to_bytes()) == event


def test_python_names_are_accepted_too():
    """Models can be built with Python field names (schema_, tx_id) as well as aliases."""
    src = SourceInfo(connector="export", db="d", schema_="public", table="leads", ts_ms=1, tx_id=3)
    assert src.schema_ == "public" and src.tx_id == 3


def test_reads_a_debezium_event_ignoring_extra_fields():
    """A Debezium-produced value (with version, name, sequence...) parses; extras are ignored."""
    value = {
        "before": None,
        "after": {"id": 1},
        "op": "c",
        "ts_ms": 5,
        "transaction": None,
        "source": {
            "version": "2.7.0.Final", "connector": "postgresql", "name": "tabuladormax",
            "ts_ms": 4, "snapshot": False, "db": "crm", "sequence": '["1","2"]',
            "schema": "public", "table": "leads", "txId": 9, "lsn": 10, "xmin": None,
        },
    }  # fmt: skip
    event = ChangeEvent.from_bytes(orjson.dumps(value))
    assert event.source.tx_id == 9 and event.unchanged_toast == []


def test_unchanged_toast_columns_must_be_absent_from_after():
    """A column named in unchanged_toast may not also appear in after (not even as null)."""
    with pytest.raises(pydantic.ValidationError, match="left out"):
        _update(after={"id": 42, "notes": None}, unchanged_toast=["notes"])


@pytest.mark.parametrize(
    ("op", "before", "after"),
    [("c", None, None), ("u", {"id": 1}, None), ("r", None, None), ("d", None, None), ("d", {"id": 1}, {"id": 1})],
)
def test_images_required_by_op(op: str, before: dict | None, after: dict | None):
    """c/u/r need an after image; d needs a before image and no after."""
    with pytest.raises(pydantic.ValidationError):
        _update(op=op, before=before, after=after)


def test_unknown_op_and_connector_are_rejected():
    """Only the documented ops and connectors are valid."""
    with pytest.raises(pydantic.ValidationError):
        _update(op="t")
    with pytest.raises(pydantic.ValidationError):
        _source(connector="mysql")


def test_events_are_frozen():
    """Events cannot be mutated after construction."""
    event = _update()
    with pytest.raises(pydantic.ValidationError):
        event.op = "d"  # type: ignore[misc]


def test_key_bytes_from_after_or_before():
    """The Kafka key is the lead id in ASCII, from after, or from before for deletes."""
    assert _update().key_bytes() == b"42"
    delete = _update(op="d", before={"id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}, after=None)
    assert delete.key_bytes() == b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"


def test_key_bytes_without_id_raises():
    """An event whose image lacks the key column cannot be keyed."""
    with pytest.raises(ValueError, match="'id'"):
        _update(after={"name": "x"}).key_bytes()


def test_headers_carry_routing_fields():
    """Headers carry op, sync_source and job_id as bytes; absent values are left out."""
    event = _update(source=_source(job_id="job-7", snapshot=True), op="r")
    assert event.headers() == [("op", b"r"), ("sync_source", b"tabuladormax"), ("job_id", b"job-7")]
    bare = _update(source=_source(sync_source=None))
    assert bare.headers() == [("op", b"u")]
    assert header(event.headers(), "job_id") == "job-7" and header(bare.headers(), "job_id") is None


def test_ts_ms_defaults_to_now():
    """Without ts_ms the event is stamped with the current time in milliseconds."""
    event = ChangeEvent(op="c", after={"id": 1}, source=_source())
    assert event.ts_ms > 1_700_000_000_000


def test_a_captured_change_built_unvalidated_equals_the_validated_one():
    """The capture's hot path builds its events without validation (`of_change`): the same event,
    the same bytes, as validating the same fields."""
    source = SourceInfo.of_change(db="crm", schema="public", table="leads", lsn=2_000, tx_id=991,
                                  ts_us=1_700_000_000_123_456, sync_source="tabuladormax", change_lsn=1_900,
                                  last_commit_lsn=1_500)
    validated_source = SourceInfo(connector="postgresql", db="crm", schema="public", table="leads", lsn=2_000,
                                  txId=991, ts_ms=1_700_000_000_123, ts_us=1_700_000_000_123_456,
                                  sync_source="tabuladormax", change_lsn=1_900, last_commit_lsn=1_500)
    assert source == validated_source
    event = ChangeEvent.of_change("u", {"id": 1, "notes": "a"}, {"id": 1}, ["notes"], source)
    validated = ChangeEvent(op="u", before={"id": 1, "notes": "a"}, after={"id": 1}, unchanged_toast=["notes"],
                            source=validated_source, ts_ms=event.ts_ms)
    assert event == validated
    assert event.to_bytes() == validated.to_bytes() and event.headers() == validated.headers()
    assert event.model_dump() == validated.model_dump()
    with pytest.raises(pydantic.ValidationError):
        event.op = "d"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("op", "before", "after", "unchanged"),
    [("c", None, None, []), ("d", None, None, []), ("d", {"id": 1}, {"id": 1}, []), ("u", None, {"id": 1}, ["id"])],
)
def test_a_captured_change_still_refuses_bad_images(op: str, before: dict | None, after: dict | None,
                                                    unchanged: list[str]):
    """The rules on images hold without validation: a bad event raises, naming what is wrong."""
    source = SourceInfo.of_change(db="crm", schema="public", table="leads", lsn=1, tx_id=1, ts_us=1_000,
                                  sync_source=None, change_lsn=None, last_commit_lsn=None)
    with pytest.raises(ValueError, match="op|TOAST"):
        ChangeEvent.of_change(op, before, after, unchanged, source)  # type: ignore[arg-type]


def test_a_captured_change_refuses_a_sync_source_that_is_not_text():
    with pytest.raises(ValueError, match="sync_source: a int"):
        SourceInfo.of_change(db="crm", schema="public", table="leads", lsn=1, tx_id=1, ts_us=1_000, sync_source=7,
                             change_lsn=None, last_commit_lsn=None)  # type: ignore[arg-type]
